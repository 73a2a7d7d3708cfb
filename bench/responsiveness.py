"""Responsiveness: from `make run` to the Compare page, and from pressing Compare to the first result on screen.

    python -m bench.responsiveness [--quick] [--json]

(a) Cold start. The commands `make run` runs (the Makefile: `python -m mcv_core local up --if-local`, then
`python -m streamlit run app.py --server.address 127.0.0.1 --server.port P --server.headless true`) are started
here with MCV_DATA_DIR in a temporary folder and a free port, and timed from the first process's start to
  (i)   the local cloud up (`local up` returned: moto, the AI emulator and the stack are ready),
  (ii)  the HTTP server answering /_stcore/health,
  (iii) the Compare page rendered in a browser (its h1 "Compare" visible), and its Compare button visible.
The browser (Debian's chromium through playwright, loopback only) is open before the clock starts, as a user's
is; it opens the page the moment the server answers. The model artifact is already built (make's prerequisite).

(b) Comparison, page warm. A photo (scikit-image's chelsea, the tests' cat) is uploaded and Compare pressed;
a MutationObserver in the page timestamps (performance.now(), from the click event) each provider's result card
(its bold title) when it enters the DOM, and the next animation frame after it (painted), the run's end (the
header's "side by side in N ms", drawn once every provider answered and the run was saved) and the script's
end (the progress bar removed). Each provider's own latency is read from its card. Every repetition opens the
page afresh (a new session, the server warm), so no card of an earlier run is on the page. The first repetition
is the first comparison after the cold start (models load): reported separately.

Baseline: a page that draws all results at once draws them when the whole comparison has returned (the run's
end). Ratio: first result / run's end (median of the warm repetitions; the cold one in --quick, which makes one
repetition). `met`: per-provider arrival was observed: in every repetition whose providers' latencies differ
(by more than 100 ms between fastest and slowest), every card was on the page, the first card entered the DOM
strictly before the last one, and before the run's end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import common

NAME = "responsiveness"
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
CLOUD_UP_S = 300.0
SERVER_START_S = 120.0
PAGE_S = 120.0
COMPARISON_S = 300.0
DIFFERENT_MS = 100.0  # providers' latencies "differ" when fastest and slowest are this far apart
# Variables of a developer's shell or .env that must not reach the measured app (as tests/conftest.py scrubs).
SCRUBBED = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_KEY",
)

# Installed before the click: timestamps of the click, of each card entering the DOM (and the frame after it),
# of the run's end and of the progress bar's removal. Titles are the providers' card titles (bold).
OBSERVER_JS = r"""
(titles) => {
  const state = {click: null, cards: {}, painted: {}, order: [], done: null, progressSeen: null, progressGone: null};
  window.__mcvBench = state;
  document.addEventListener('click', (e) => {
    if (state.click === null && e.target.closest && e.target.closest('.st-key-compare-go')) state.click = performance.now();
  }, true);
  const check = () => {
    const now = performance.now();
    if (state.click === null) return;
    // A target's result has arrived when its card's latency (its first figure) holds a number: the card itself
    // is drawn, with dashes, as soon as the call starts.
    const answered = new Set([...document.querySelectorAll('strong')].filter((s) => {
      const card = s.closest('[data-testid=stVerticalBlock]');
      const value = card && card.querySelector('[data-testid=stMetricValue]');
      return value && /\d/.test(value.textContent);
    }).map((s) => s.textContent.trim()));
    for (const title of titles) {
      if (!(title in state.cards) && answered.has(title)) {
        state.cards[title] = now;
        state.order.push(title);
        requestAnimationFrame(() => { state.painted[title] = performance.now(); });
      }
    }
    if (state.done === null && [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
          .some((e) => e.textContent.includes('side by side in'))) state.done = now;
    const progress = document.querySelector('[data-testid=stProgress]');
    if (progress && state.progressSeen === null) state.progressSeen = now;
    if (!progress && state.progressSeen !== null && state.progressGone === null) state.progressGone = now;
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
  return true;
}
"""

# After the run: what each card shows (status, latency, service time, cold/warm).
READ_CARDS_JS = """
(titles) => {
  const out = {};
  for (const title of titles) {
    const strong = [...document.querySelectorAll('strong')].find((s) => s.textContent.trim() === title);
    if (!strong) continue;
    const card = strong.closest('[data-testid=stVerticalBlock]');
    const metrics = {};
    const labels = card.querySelectorAll('[data-testid=stMetricLabel]');
    const values = card.querySelectorAll('[data-testid=stMetricValue]');
    labels.forEach((l, i) => { metrics[l.textContent.trim()] = values[i] ? values[i].textContent.trim() : null; });
    const captions = [...card.querySelectorAll('[data-testid=stCaptionContainer]')].map((c) => c.textContent.trim());
    const alerts = [...card.querySelectorAll('[data-testid=stAlert]')].map((a) => a.textContent.trim());
    out[title] = {metrics, captions, alerts, text: card.textContent.slice(0, 400)};
  }
  return out;
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _ms(text: str | None) -> float | None:
    match = re.search(r"([\d,]+(?:\.\d+)?)\s*ms", text or "")
    return float(match.group(1).replace(",", "")) if match else None


def app_environment(data_dir: Path) -> dict[str, str]:
    """The environment `make run` would see, with the local cloud's state in `data_dir` and no developer keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCV_", "AWS_ENDPOINT_URL")) and k not in SCRUBBED}
    env.update(MCV_MODE="local", MCV_DATA_DIR=str(data_dir), MCV_ENV_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    for var in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in env.get(var, "").split(",") if h]
        env[var] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
    return env


class App:
    """The app as `make run` starts it; `stop()` stops what was started (the streamlit server, then the local
    cloud through `python -m mcv_core local down`, then its daemon by pid if it is still there)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = app_environment(data_dir)
        self.log = data_dir / "bench-logs"
        self.log.mkdir(parents=True, exist_ok=True)
        self.streamlit: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.cloud_started = False

    def local_up(self) -> None:
        self.cloud_started = True  # from here on, down is due even if `up` fails half-way
        done = subprocess.run(
            [sys.executable, "-m", "mcv_core", "local", "up", "--if-local"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLOUD_UP_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"`local up` failed ({done.returncode}): {done.stderr[-2000:]}")

    def start_streamlit(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ]
        with (self.log / "streamlit.log").open("ab") as log_file:
            self.streamlit = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
            )

    def wait_healthy(self) -> None:
        assert self.streamlit is not None
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.streamlit.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited ({self.streamlit.returncode}): {_tail(self.log / 'streamlit.log')}"
                )
            if _healthy(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError(f"streamlit did not answer within {SERVER_START_S:g} s: {_tail(self.log / 'streamlit.log')}")

    def stop(self) -> None:
        if self.streamlit is not None:
            _stop(self.streamlit)
        if not self.cloud_started:
            return
        subprocess.run(
            [sys.executable, "-m", "mcv_core", "local", "down"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        # A daemon that `down` could not reach (a half-started one): stop it by its pid, if it wrote one.
        try:
            import json

            pid = int(json.loads((self.data_dir / "local" / "cloud.json").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


class Browser:
    """Debian's chromium through playwright; requests that would leave loopback are aborted and counted."""

    def __init__(self, stack: ExitStack) -> None:
        from playwright.sync_api import sync_playwright

        if not CHROMIUM.exists():
            raise RuntimeError(
                f"{CHROMIUM} is absent: run `make browser-deps` (playwright cannot download a browser here)"
            )
        self.playwright = stack.enter_context(sync_playwright())
        self.chromium = self.playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        stack.callback(self.chromium.close)
        self.context = self.chromium.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(60_000)
        self.outside: list[str] = []
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.goto("about:blank")

    def _route(self, route: Any) -> None:
        url = route.request.url
        if (urlsplit(url).hostname or "") in LOOPBACK_HOSTS or not url.startswith(("http:", "https:", "ws:", "wss:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


def open_compare(page: Any, url: str) -> dict[str, float]:
    """Open the app; seconds to the h1 "Compare" visible and to the Compare button visible."""
    started = time.perf_counter()
    page.goto(url)
    page.locator("h1").filter(has_text=re.compile(r"^\s*Compare\s*$")).first.wait_for(
        state="visible", timeout=PAGE_S * 1000
    )
    heading = time.perf_counter() - started
    page.locator(".st-key-compare-go button").wait_for(state="visible", timeout=PAGE_S * 1000)
    button = time.perf_counter() - started
    # The page's own clock, from navigation start: the HTML and its scripts loaded, then the app drawn.
    nav = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0] || {};"
        " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, now: performance.now()}; }"
    )
    return {
        "h1_s": heading,
        "button_s": button,
        "dom_content_loaded_s": (nav.get("dcl") or 0) / 1000,
        "load_event_s": (nav.get("load") or 0) / 1000,
    }


def compare_once(page: Any, url: str, photo: Path, titles: dict[str, str], fresh: bool) -> dict[str, Any]:
    """One comparison through the page; times in ms from the click event, as the page's clock saw them."""
    from playwright.sync_api import expect

    opened = open_compare(page, url) if fresh else None
    go = page.locator(".st-key-compare-go button")
    pills = page.locator(".st-key-compare-targets, .st-key-compare-providers")  # the targets' pills (older key)
    for title in titles.values():
        expect(pills.get_by_text(title, exact=True)).to_be_visible()
    page.locator(".st-key-compare-files input[type=file]").set_input_files(str(photo))
    expect(page.get_by_test_id("stFileChipName")).to_have_text(photo.name)
    expect(go).to_be_enabled()
    title_list = list(titles.values())
    page.evaluate(OBSERVER_JS, title_list)
    clicked = time.perf_counter()
    go.click()
    error = None
    try:
        page.wait_for_function(
            "(n) => { const s = window.__mcvBench; return s && s.progressGone !== null && "
            "(s.done !== null || Object.keys(s.cards).length >= n) && Object.keys(s.painted).length >= Object.keys(s.cards).length; }",
            arg=len(title_list),
            timeout=COMPARISON_S * 1000,
            polling=50,
        )
    except Exception as exc:  # noqa: BLE001 - a comparison that does not end is reported, not raised
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    wall_s = time.perf_counter() - clicked
    state = page.evaluate("() => window.__mcvBench")
    shown = page.evaluate(READ_CARDS_JS, title_list)
    exceptions = page.get_by_test_id("stException").count()
    click = state.get("click")

    def rel(value: float | None) -> float | None:
        return None if value is None or click is None else round(value - click, 1)

    by_title = {title: name for name, title in titles.items()}
    providers: dict[str, Any] = {}
    for title in title_list:
        card = shown.get(title) or {}
        metrics = card.get("metrics") or {}
        service = next((c for c in card.get("captions", []) if "service time" in c), None)
        providers[by_title[title]] = {
            "card_ms": rel(state["cards"].get(title)),
            "painted_ms": rel(state["painted"].get(title)),
            "status": "error" if card.get("alerts") else ("ok" if card else "absent"),
            "latency_shown_ms": _ms(metrics.get("Latency")) if metrics else _ms(" ".join(card.get("captions", []))),
            "service_time_ms": _ms(service),
            "temperature": "cold"
            if "cold start" in card.get("text", "")
            else ("warm" if "warm" in card.get("text", "") else None),
            "alerts": card.get("alerts") or [],
        }
    arrivals = [p["card_ms"] for p in providers.values() if p["card_ms"] is not None]
    latencies = [p["latency_shown_ms"] for p in providers.values() if p["latency_shown_ms"] is not None]
    done = rel(state.get("done"))
    first = min(arrivals) if arrivals else None
    last = max(arrivals) if arrivals else None
    order = [by_title[t] for t in state.get("order", [])]
    by_latency = [
        name for name, p in sorted(providers.items(), key=lambda kv: kv[1]["latency_shown_ms"] or float("inf"))
    ]
    for p in providers.values():  # what the card waited for besides the call itself: upload, preparation, drawing
        p["card_minus_latency_ms"] = (
            round(p["card_ms"] - p["latency_shown_ms"], 1)
            if p["card_ms"] is not None and p["latency_shown_ms"] is not None
            else None
        )
    return {
        "page_open_s": {k: round(v, 3) for k, v in opened.items()} if opened else None,
        "first_card_ms": first,
        "last_card_ms": last,
        "run_end_ms": done,
        "script_end_ms": rel(state.get("progressGone")),
        "first_over_run_end": round(first / done, 4) if first is not None and done else None,
        "run_end_after_last_card_ms": round(done - last, 1) if done is not None and last is not None else None,
        "arrival_order": order,
        "latency_order": by_latency,
        "order_matches_latency": order == by_latency if len(order) == len(titles) else None,
        "latency_spread_ms": round(max(latencies) - min(latencies), 1) if len(latencies) >= 2 else None,
        "providers": providers,
        "click_to_observed_end_s": round(wall_s, 2),
        "page_exceptions": exceptions,
        "error": error,
    }


def arrival_observed(rep: dict[str, Any], n: int) -> bool | None:
    """True when the cards arrived one by one; None when the providers' latencies do not differ (nothing to see)."""
    spread = rep["latency_spread_ms"]
    if spread is None or spread <= DIFFERENT_MS:
        return None
    arrivals = [p["card_ms"] for p in rep["providers"].values()]
    if rep["error"] or any(a is None for a in arrivals) or len(arrivals) != n:
        return False
    return min(arrivals) < max(arrivals) and (rep["run_end_ms"] is None or min(arrivals) < rep["run_end_ms"])


def run(quick: bool = False) -> dict[str, Any]:
    from mcv_core import targets
    from mcv_core.config import Settings

    load_at_start = os.getloadavg()
    repetitions = 1 if quick else 4
    data_dir = Path(tempfile.mkdtemp(prefix="mcv-bench-responsiveness-"))
    # The targets the app selects by default: its catalogue (targets.toml in the repository, else the three
    # defaults) as the app loads it, with no MCV_ variable (app_environment drops them).
    settings = Settings.from_mapping({"MCV_MODE": "local"})
    catalogue = targets.load(settings, cwd=REPO)
    names = catalogue.enabled(settings)
    titles = {name: catalogue.title(name) for name in names}
    photo = data_dir / "cat.jpg"
    photo.write_bytes(_cat_jpeg())
    cold: dict[str, Any] = {}
    reps: list[dict[str, Any]] = []
    app = App(data_dir)
    try:
        with common.sigterm_as_interrupt(), ExitStack() as stack:
            browser = Browser(stack)
            stack.callback(app.stop)
            # (a) cold start, timed from the first command's start
            t0 = time.perf_counter()
            app.local_up()
            cold["local_cloud_up_s"] = time.perf_counter() - t0
            app.start_streamlit()
            cold["streamlit_started_s"] = time.perf_counter() - t0
            app.wait_healthy()
            cold["health_s"] = time.perf_counter() - t0
            opened = open_compare(browser.page, app.url)
            cold["compare_h1_s"] = cold["health_s"] + opened["h1_s"]
            cold["compare_button_s"] = cold["health_s"] + opened["button_s"]
            cold["first_page_render_s"] = opened["h1_s"]
            cold["first_page_dom_content_loaded_s"] = opened["dom_content_loaded_s"]
            cold["first_page_load_event_s"] = opened["load_event_s"]
            cold = {k: round(v, 3) for k, v in cold.items()}
            # (b) comparisons; the first right after the cold start, on the page just opened
            for i in range(repetitions):
                reps.append(compare_once(browser.page, app.url, photo, titles, fresh=i > 0))
            outside = list(browser.outside)
            streamlit_log = _tail(app.log / "streamlit.log", 10)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    first_rep, warm = reps[0], reps[1:]
    measured = warm or [first_rep]

    def med(key: str, of: list[dict[str, Any]]) -> float | None:
        values = [r[key] for r in of if r[key] is not None]
        return round(statistics.median(values), 1) if values else None

    observed = [arrival_observed(r, len(names)) for r in reps]
    checked = [o for o in observed if o is not None]
    met = bool(checked) and all(checked)
    first_ms, end_ms = med("first_card_ms", measured), med("run_end_ms", measured)
    per_provider = {
        name: {
            "card_ms_median": round(statistics.median(v), 1)
            if (v := [r["providers"][name]["card_ms"] for r in measured if r["providers"][name]["card_ms"] is not None])
            else None,
            "latency_shown_ms_median": round(statistics.median(v), 1)
            if (
                v := [
                    r["providers"][name]["latency_shown_ms"]
                    for r in measured
                    if r["providers"][name]["latency_shown_ms"] is not None
                ]
            )
            else None,
        }
        for name in names
    }
    return {
        "name": NAME,
        "target": (
            "time from `make run` to the compare page answering; time from pressing compare to the first result "
            "on screen; results appear per provider as each finishes"
        ),
        "baseline": {
            "all_at_once_ms": end_ms,
            "all_at_once_cold_ms": first_rep["run_end_ms"],
        },
        "ours": {
            "first_result_ms": first_ms,
            "first_result_cold_ms": first_rep["first_card_ms"],
            "make_run_to_compare_page_s": cold.get("compare_h1_s"),
            "make_run_to_health_s": cold.get("health_s"),
            "local_cloud_up_s": cold.get("local_cloud_up_s"),
        },
        "ratio": round(first_ms / end_ms, 4) if first_ms is not None and end_ms else None,
        "met": met,
        "details": {
            "ratio_means": (
                "first result card on the page / the run's end (when an all-at-once page could draw), from "
                "the click; median of the " + (f"{len(warm)} warm repetitions" if warm else "one (cold) repetition")
            ),
            "met_means": (
                f"per-provider arrival: in each repetition whose providers' shown latencies differ by more than "
                f"{DIFFERENT_MS:g} ms, every card appeared, the first card entered the DOM strictly before the last "
                "and before the run's end"
            ),
            "arrival_observed_per_repetition": observed,
            "cold_start": cold,
            "cold_start_note": (
                "seconds from starting `python -m mcv_core local up --if-local`; then `streamlit run` as the "
                "Makefile does; the browser was already open and asked for the page as soon as "
                "/_stcore/health answered. The model artifact was already built; Python's files were in "
                "the OS cache (a process cold start, not a cold disk)."
            ),
            "first_comparison_cold": first_rep,
            "warm_comparisons": warm,
            "warm_summary": {
                "first_card_ms_median": first_ms,
                "last_card_ms_median": med("last_card_ms", measured),
                "run_end_ms_median": end_ms,
                "script_end_ms_median": med("script_end_ms", measured),
                "per_provider": per_provider,
            }
            if warm
            else None,
            "repetitions": repetitions,
            "providers": titles,
            "photo": {"source": "skimage.data.chelsea()", "bytes": photo_size(), "name": "cat.jpg"},
            "requests_outside_loopback_blocked": outside,
            "streamlit_log_tail": streamlit_log,
        },
        "environment": common.environment(load_at_start),
    }


_CAT: bytes | None = None


def _cat_jpeg() -> bytes:
    """tests/conftest.py's cat_jpeg: scikit-image's chelsea as a quality-92 JPEG."""
    global _CAT
    if _CAT is None:
        import io

        from PIL import Image
        from skimage import data

        buffer = io.BytesIO()
        Image.fromarray(data.chelsea()).save(buffer, "JPEG", quality=92)
        _CAT = buffer.getvalue()
    return _CAT


def photo_size() -> int:
    return len(_cat_jpeg())


def render(result: dict[str, Any]) -> str:
    d, o, b = result["details"], result["ours"], result["baseline"]
    c = d["cold_start"]
    lines = [
        f"{result['name']}: {result['target']}",
        (
            "cold start (s from `make run`'s first command): "
            f"local cloud up {c['local_cloud_up_s']}, /_stcore/health {c['health_s']}, "
            f"Compare h1 visible {c['compare_h1_s']}, Compare button {c['compare_button_s']} "
            f"(first page render {c['first_page_render_s']} s, of which the HTML and scripts loaded in "
            f"{c.get('first_page_load_event_s')} s)"
        ),
    ]
    opens = [r["page_open_s"] for r in d["warm_comparisons"] if r.get("page_open_s")]
    if opens:
        lines.append(
            "warm page opens (new session, server warm): h1 "
            + ", ".join(f"{o['h1_s']:.2f}" for o in opens)
            + " s; of which HTML and scripts loaded "
            + ", ".join(f"{o.get('load_event_s', 0):.2f}" for o in opens)
            + " s"
        )
    names = list(d["providers"])
    rows = []
    for label, rep in [("cold (1st)", d["first_comparison_cold"])] + [
        (f"warm {i + 1}", r) for i, r in enumerate(d["warm_comparisons"])
    ]:
        rows.append(
            (
                label,
                rep["first_card_ms"],
                *[rep["providers"][n]["card_ms"] for n in names],
                rep["run_end_ms"],
                rep["script_end_ms"],
                rep["first_over_run_end"],
                " > ".join(rep["arrival_order"]) or "-",
            )
        )
    lines.append("ms from the click:")
    lines.append(
        common.table(
            (
                "comparison",
                "first card",
                *[f"{n} card" for n in names],
                "run end",
                "script end",
                "first/end",
                "arrival order",
            ),
            rows,
        )
    )
    rows = []
    for label, rep in [("cold (1st)", d["first_comparison_cold"])] + [
        (f"warm {i + 1}", r) for i, r in enumerate(d["warm_comparisons"])
    ]:
        rows.append(
            (
                label,
                *[
                    f"{rep['providers'][n]['latency_shown_ms']} ({rep['providers'][n]['status']}"
                    f"{', ' + rep['providers'][n]['temperature'] if rep['providers'][n]['temperature'] else ''})"
                    for n in names
                ],
            )
        )
    lines.append("latency shown on each card, ms (status, temperature):")
    lines.append(common.table(("comparison", *names), rows))
    rows = []
    for label, rep in [("cold (1st)", d["first_comparison_cold"])] + [
        (f"warm {i + 1}", r) for i, r in enumerate(d["warm_comparisons"])
    ]:
        rows.append(
            (label, *[rep["providers"][n]["card_minus_latency_ms"] for n in names], rep["run_end_after_last_card_ms"])
        )
    lines.append(
        "around the calls, ms: card time minus the provider's own latency (upload, preparation, drawing), and "
        "the run's end after the last card (saving to history):"
    )
    lines.append(common.table(("comparison", *[f"{n} card - latency" for n in names], "run end - last card"), rows))
    errors = [r["error"] for r in [d["first_comparison_cold"], *d["warm_comparisons"]] if r["error"]]
    if errors:
        lines.append(f"comparisons that did not end: {errors}")
    lines.append(
        f"first result {o['first_result_ms']} ms vs all at once {b['all_at_once_ms']} ms: ratio {result['ratio']} "
        f"({d['ratio_means']})"
    )
    lines.append(
        f"cold comparison: first result {o['first_result_cold_ms']} ms vs all at once {b['all_at_once_cold_ms']} ms"
    )
    lines.append(
        f"arrival observed per repetition: {d['arrival_observed_per_repetition']}; target "
        f"{'met' if result['met'] else 'NOT met'} ({d['met_means']})"
    )
    if d["requests_outside_loopback_blocked"]:
        lines.append(f"requests outside loopback blocked: {d['requests_outside_loopback_blocked']}")
    lines.append(common.environment_line(result["environment"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(common.main(run, render, description=__doc__.split("\n\n")[0]))
