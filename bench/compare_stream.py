"""The Compare page draws a streamed answer as it arrives: from each chunk leaving the emulator to it on screen.

    python -m bench.compare_stream [--quick] [--json]

The app runs as `make run` starts it (bench.responsiveness's `App`: a local cloud of its own in a temporary folder,
then `streamlit run`), and Debian's chromium (its `Browser`, loopback only) opens the Compare page, uploads the cat
photo (scikit-image's chelsea) and presses Compare with the catalogue's default targets. Each repetition opens the
page afresh (a new session, the server warm); a first comparison warms the models up and is not counted.

What is timed, per streamed target and chunk. The local cloud's emulator sends a stand-in's answer in token-sized
pieces (`wire.token_pieces`), piece k at k / rate seconds after the first, and keeps the monotonic time at which the
first one started to leave (`GET /_mcv/streams`: `first_text_ns`, CLOCK_MONOTONIC, the same clock in every process
of the machine). In the page, a MutationObserver installed before the click notes, each time a streaming card's
text changes, the time (the page's clock, `performance.timeOrigin + performance.now()`) and the text's length, and
the next animation frame after it (painted). The page's clock is tied to the monotonic clock by sampling both
around a call into the page (the sample with the shortest round trip, typically under 2 ms). A chunk is drawn when
the card's text first reaches the length of the answer up to it; its delay is that time less its send time. It
covers the whole path: the SDK reading the event, the runner handing it to the page's thread, Streamlit sending
the element, the browser drawing it. Chunks that arrive faster than a redraw are drawn together, and each counts
from its own send time.

Baseline, in the same run: a page that draws an answer once it is whole (as before streaming) shows the first
words when the card's final form appears; its delay for the first chunk is that time less the first chunk's send
time. Target: the first words on screen within 100 ms of arriving (median over the repetitions and streamed
targets); the median over every chunk is reported beside it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import common
from bench.responsiveness import App, Browser, _cat_jpeg, open_compare

NAME = "compare_stream"
REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0
COMPARISON_S = 300.0
CLOCK_SAMPLES = 15

# Installed before the click. Per card title: each change of its text while it streams ([page ms, length]), the
# frame after each change (painted), and when the card took its final form.
OBSERVER_JS = """
(titles) => {
  const now = () => performance.timeOrigin + performance.now();
  const state = {changes: {}, painted: {}, final: {}};
  for (const t of titles) { state.changes[t] = []; state.painted[t] = []; }
  window.__mcvStream = state;
  // A card: the nearest block around the target's bold title that holds an answer's text (or its figures).
  const cardOf = (title) => {
    const strong = [...document.querySelectorAll('strong')].find((s) => s.textContent.trim() === title);
    let block = strong && strong.closest('[data-testid=stVerticalBlock]');
    for (let up = 0; block && up < 3; up++) {
      if (block.querySelector('[data-testid=stText]')) return block;
      block = block.parentElement && block.parentElement.closest('[data-testid=stVerticalBlock]');
    }
    return strong && strong.closest('[data-testid=stVerticalBlock]');
  };
  const check = () => {
    const at = now();
    for (const title of titles) {
      const card = cardOf(title);
      if (!card) continue;
      const streaming = card.textContent.includes('the answer is streaming in');
      const text = card.querySelector('[data-testid=stText]');
      if (streaming && text) {
        const changes = state.changes[title];
        const n = text.textContent.length;
        if (!changes.length || changes[changes.length - 1][1] !== n) {
          changes.push([at, n]);
          requestAnimationFrame(() => state.painted[title].push([now(), n]));
        }
      } else if (!streaming && !(title in state.final)) {
        const value = card.querySelector('[data-testid=stMetricValue]');
        if (value && /\\d/.test(value.textContent)) state.final[title] = at;
      }
    }
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
  return true;
}
"""
TEXTS_JS = """
(titles) => Object.fromEntries(titles.map((title) => {
  const strong = [...document.querySelectorAll('strong')].find((s) => s.textContent.trim() === title);
  const card = strong && strong.closest('[data-testid=stVerticalBlock]');
  const text = card && card.querySelector('[data-testid=stText]');
  return [title, text ? text.textContent : null];
}))
"""


def page_clock_offset_ms(page: Any) -> tuple[float, float]:
    """(page clock - monotonic clock, in ms; the round trip it was measured within): the sample with the shortest
    round trip of CLOCK_SAMPLES calls into the page."""
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_SAMPLES):
        before = time.monotonic_ns()
        page_ms = page.evaluate("() => performance.timeOrigin + performance.now()")
        after = time.monotonic_ns()
        trip = (after - before) / 1e6
        offset = page_ms - (before + after) / 2e6
        if best is None or trip < best[1]:
            best = (offset, trip)
    assert best is not None
    return best


def chunk_delays(changes: list[list[float]], text: str, first_ms: float, rate: float, offset_ms: float) -> list[float | None]:
    """Per piece of `text` (as the emulator cut it): ms from its send (first_ms + k / rate, monotonic) to the first
    change of the card's text that shows it (page clock, less `offset_ms`); None for a piece never seen drawn."""
    from mcv_core.local.emulator.wire import token_pieces

    delays: list[float | None] = []
    so_far = ""
    for k, piece in enumerate(token_pieces(text)):
        so_far += piece
        shown = len(so_far.strip())  # st.text strips the ends
        sent = first_ms + 1000.0 * k / rate
        seen = next((t - offset_ms for t, n in changes if n >= shown), None)
        delays.append(None if seen is None else round(seen - sent, 2))
    return delays


def compare_once(page: Any, url: str, photo: Path, titles: dict[str, str], services: dict[str, str], conn: Any) -> dict[str, Any]:
    """One comparison through a fresh page; per streamed target, every chunk's delay to the screen (ms)."""
    from playwright.sync_api import expect

    from mcv_core.local import control

    open_compare(page, url)
    go = page.locator(".st-key-compare-go button")
    page.locator(".st-key-compare-files input[type=file]").set_input_files(str(photo))
    expect(page.get_by_test_id("stFileChipName")).to_have_text(photo.name)
    expect(go).to_be_enabled()
    title_list = list(titles.values())
    page.evaluate(OBSERVER_JS, title_list)
    offset_ms, trip_ms = page_clock_offset_ms(page)
    clicked_ns = time.monotonic_ns()
    go.click()
    error = None
    try:
        page.locator(".st-key-compare-report").get_by_role("button", name="Download report").wait_for(
            state="visible", timeout=COMPARISON_S * 1000
        )
    except Exception as exc:  # noqa: BLE001 - a comparison that does not end is reported, not raised
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    state = page.evaluate("() => window.__mcvStream")
    texts = page.evaluate(TEXTS_JS, title_list)
    exceptions = page.get_by_test_id("stException").count()
    streams = control.emulator_admin(conn, "GET", "/_mcv/streams")["streams"]
    targets: dict[str, Any] = {}
    for name, title in titles.items():
        sent = [
            s for s in streams
            if s["service"] == services[name] and s["streamed"] and s["received_ns"] >= clicked_ns and s["first_text_ns"]
        ]  # fmt: skip
        changes = state["changes"].get(title) or []
        if not sent or not texts.get(title):
            targets[name] = {"streamed": bool(sent), "drawn_changes": len(changes)}
            continue
        record = sent[-1]
        first_ms = record["first_text_ns"] / 1e6
        rate = float(record["tokens_per_s"] or 0) or float("inf")
        delays = chunk_delays(changes, texts[title], first_ms, rate, offset_ms)
        painted = chunk_delays(state["painted"].get(title) or [], texts[title], first_ms, rate, offset_ms)
        final = state["final"].get(title)
        seen = [d for d in delays if d is not None]
        targets[name] = {
            "streamed": True,
            "chunks": len(delays),
            "chunks_drawn": len(seen),
            "drawn_changes": len(changes),
            "tokens_per_s": record["tokens_per_s"],
            "first_chunk_ms": delays[0],
            "first_chunk_painted_ms": painted[0] if painted else None,
            "chunk_ms": common.summary(seen) if seen else None,
            "whole_answer_first_words_ms": round(final - offset_ms - first_ms, 2) if final is not None else None,
            "ended": record["ended"],
        }
    return {"targets": targets, "clock_round_trip_ms": round(trip_ms, 3), "page_exceptions": exceptions, "error": error}


def run(quick: bool = False) -> dict[str, Any]:
    from mcv_core import targets as catalogue_targets
    from mcv_core.config import Settings
    from mcv_core.local import control

    load_at_start = os.getloadavg()
    repetitions = 2 if quick else 6
    data_dir = Path(tempfile.mkdtemp(prefix="mcv-bench-compare-stream-"))
    settings = Settings.from_mapping({"MCV_MODE": "local"})
    catalogue = catalogue_targets.load(settings, cwd=REPO)  # as the app loads it: targets.toml here, else the defaults
    names = catalogue.enabled(settings)
    titles = {name: catalogue.title(name) for name in names}
    services = {name: catalogue.get(name).service for name in names}
    photo = data_dir / "cat.jpg"
    photo.write_bytes(_cat_jpeg())
    reps: list[dict[str, Any]] = []
    app = App(data_dir)
    try:
        with common.sigterm_as_interrupt(), ExitStack() as stack:
            browser = Browser(stack)
            stack.callback(app.stop)
            app.local_up()
            app.start_streamlit()
            app.wait_healthy()
            conn = control.running(Settings.from_mapping(app.env))
            if conn is None:
                raise RuntimeError("the local cloud the app started is not running")
            for _ in range(repetitions):
                reps.append(compare_once(browser.page, app.url, photo, titles, services, conn))
            outside = list(browser.outside)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    warm = reps[1:]  # the first comparison loads the models
    streamed = sorted({n for r in warm for n, t in r["targets"].items() if t.get("first_chunk_ms") is not None})
    firsts = [r["targets"][n]["first_chunk_ms"] for r in warm for n in streamed if r["targets"][n].get("first_chunk_ms") is not None]
    painted = [
        r["targets"][n]["first_chunk_painted_ms"] for r in warm for n in streamed
        if r["targets"][n].get("first_chunk_painted_ms") is not None
    ]  # fmt: skip
    wholes = [
        r["targets"][n]["whole_answer_first_words_ms"] for r in warm for n in streamed
        if r["targets"][n].get("whole_answer_first_words_ms") is not None
    ]  # fmt: skip
    medians = [r["targets"][n]["chunk_ms"]["median_ms"] for r in warm for n in streamed if r["targets"][n].get("chunk_ms")]
    first_ms = round(statistics.median(firsts), 2) if firsts else None
    whole_ms = round(statistics.median(wholes), 2) if wholes else None
    return {
        "name": NAME,
        "target": f"the first words of a streamed answer on the Compare page within {TARGET_MS:g} ms of arriving",
        "baseline": {"whole_answer_first_words_ms": whole_ms},
        "ours": {
            "first_chunk_to_screen_ms": first_ms,
            "first_chunk_painted_ms": round(statistics.median(painted), 2) if painted else None,
            "every_chunk_to_screen_ms_median": round(statistics.median(medians), 2) if medians else None,
        },
        "ratio": round(first_ms / whole_ms, 4) if first_ms is not None and whole_ms else None,
        "met": first_ms is not None and first_ms <= TARGET_MS and not any(r["error"] or r["page_exceptions"] for r in warm),
        "details": {
            "ratio_means": "first chunk to screen, streamed page / drawn when the answer is whole; medians of the warm comparisons",
            "repetitions": repetitions,
            "warm_comparisons": len(warm),
            "streamed_targets": {n: titles[n] for n in streamed},
            "first_chunk_ms_each": firsts,
            "comparisons": reps,
            "requests_outside_loopback_blocked": outside,
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    d, o, b = result["details"], result["ours"], result["baseline"]
    lines = [f"{result['name']}: {result['target']}"]
    rows = []
    for i, rep in enumerate(d["comparisons"]):
        for name, t in rep["targets"].items():
            if not t.get("streamed") or t.get("first_chunk_ms") is None:
                continue
            chunks = t["chunk_ms"] or {}
            rows.append(
                (
                    "warm-up" if i == 0 else f"warm {i}", name, t["tokens_per_s"], f"{t['chunks_drawn']}/{t['chunks']}",
                    t["drawn_changes"], t["first_chunk_ms"], t["first_chunk_painted_ms"], chunks.get("median_ms"),
                    chunks.get("p95_ms"), chunks.get("max_ms"), t["whole_answer_first_words_ms"],
                )
            )  # fmt: skip
    lines.append("ms from a chunk leaving the emulator to the page showing it:")
    lines.append(
        common.table(
            ("comparison", "target", "tokens/s", "chunks seen", "redraws", "first chunk", "painted", "p50 chunk",
             "p95 chunk", "max chunk", "whole answer"),
            rows,
        )  # fmt: skip
    )
    errors = [r["error"] for r in d["comparisons"] if r["error"]]
    if errors:
        lines.append(f"comparisons that did not end: {errors}")
    lines.append(
        f"first words on screen {o['first_chunk_to_screen_ms']} ms after leaving the emulator (painted "
        f"{o['first_chunk_painted_ms']} ms), every chunk {o['every_chunk_to_screen_ms_median']} ms at the median; "
        f"drawn when whole: {b['whole_answer_first_words_ms']} ms; ratio {result['ratio']}; target "
        f"{'met' if result['met'] else 'NOT met'} ({TARGET_MS:g} ms)"
    )
    if d["requests_outside_loopback_blocked"]:
        lines.append(f"requests outside loopback blocked: {d['requests_outside_loopback_blocked']}")
    lines.append(common.environment_line(result["environment"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(common.main(run, render, description=__doc__.split("\n\n")[0]))
