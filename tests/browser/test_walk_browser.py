"""Every page and every tab of History and the Scorecard in a real browser at 1024x768 and 1440x900, after one
comparison, one small benchmark and one small concurrency sweep: no exception, no raw None or nan, no cost rounded
to $0.000000, no table or grid that scrolls sideways inside its box, and Compare cards whose figures are as tall in
every card. A screenshot of each view is kept."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

WIDTHS = {1024: 768, 1440: 900}
HISTORY_TABS = [
    "Latency", "Streaming", "Cold starts", "Cost & tokens", "Errors", "Accuracy", "Online vs batch", "Outputs", "Export",
]  # fmt: skip
SCORECARD_TABS = ["Pairs", "Agreement", "Ratings", "Online vs batch", "Judge", "Report"]
ANSWERS_S = 180  # the first comparison of a session pays for cold starts
BENCH_S = 300
TAB_S = 90  # a page's first run after a new minute reads the day's history again before it draws its tabs
# "$0.000000" is a cost rounded to zero; "$0.00000094" is a small cost shown as it should be.
RAW = re.compile(r"(?<![\w-])(None|nan|NaN|NaT|<NA>)(?![\w-])|\$0\.000000(?!\d)")

# What would make a reader stop: elements that scroll sideways, metric values cut short.
OVERFLOW_JS = """
() => {
  const wide = e => e.scrollWidth > e.clientWidth + 1;
  const out = [];
  for (const grid of document.querySelectorAll('[data-testid=stDataFrame]')) {
    const scroller = grid.querySelector('.dvn-scroller');
    if (scroller && wide(scroller)) out.push('table: ' + (grid.innerText || '').slice(0, 80));
  }
  for (const value of document.querySelectorAll('[data-testid=stMetricValue]')) {
    const text = value.firstElementChild || value;
    if (wide(text)) out.push('metric: ' + value.innerText);
  }
  const main = document.querySelector('[data-testid=stMain]');
  if (main && wide(main)) out.push('the page itself');
  return out;
}
"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: $SCREENSHOTS_DIR when set (to look at them afterwards), else a temporary folder."""
    folder = Path(os.environ["SCREENSHOTS_DIR"]) if os.environ.get("SCREENSHOTS_DIR") else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def nav(page: Any, title: str) -> None:
    """Open a page from the navigation: the same session, so the comparison and the benchmark stay on screen."""
    from playwright.sync_api import expect

    page.get_by_test_id("stTopNavLink").filter(has_text=title).click()
    expect(page.get_by_test_id("stHeading").filter(has_text=title).first).to_be_visible(timeout=60_000)
    settle(page)


def settle(page: Any) -> None:
    """Until the script run is over and the grids are painted."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=90_000)
    # Greyed elements of the run before: the run that replaces them may still be reading (a new minute's history).
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=90_000)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=60_000)
    page.wait_for_timeout(700)


def check_view(page: Any, what: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stException")).to_have_count(0)
    text = page.get_by_test_id("stMain").inner_text()
    raw = sorted({m.group(0) for m in RAW.finditer(text)})
    assert not raw, f"{what}: raw values on the page: {raw}"
    cut = page.evaluate(OVERFLOW_JS)
    assert cut == [], f"{what}: scrolls sideways or is cut off: {cut}"


def shoot(page: Any, path: Path, width: int, height: int) -> None:
    """The whole page: Streamlit scrolls inside its own container, so the viewport is made as tall as the page."""
    tall = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": width, "height": max(height, min(int(tall) + 40, 6000))})
    page.wait_for_timeout(800)  # the grids repaint at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": height})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, f"{path} is nearly empty"


def compare_cat(page: Any, url: str, photo: Path) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    go = page.locator(".st-key-compare-go button")
    expect(go).to_be_disabled(timeout=60_000)
    expect(page.get_by_text("To compare, choose an image.")).to_be_visible()
    page.locator(".st-key-compare-files input[type=file]").set_input_files(str(photo))
    expect(go).to_be_enabled()
    go.click()
    expect(page.get_by_text(re.compile("^Waiting for"))).to_have_count(0, timeout=ANSWERS_S * 1000)
    expect(page.get_by_test_id("stProgress")).to_have_count(0, timeout=60_000)
    # The report button follows the run's end (the cards are drawn, with dashes, as the calls start).
    expect(page.locator(".st-key-compare-report").get_by_role("button", name="Download report")).to_be_visible(timeout=ANSWERS_S * 1000)


def run_small_benchmark(page: Any) -> None:
    """The labelled samples once each, through the SageMaker classifier only."""
    from playwright.sync_api import expect

    nav(page, "Benchmark")
    pills = page.locator(".st-key-benchmark-targets")
    for title in ("Amazon Bedrock", "Azure OpenAI"):
        button = pills.get_by_role("button", name=title, exact=True)
        button.click()
        expect(button).to_have_attribute("aria-pressed", "false")
        settle(page)
    repeat = page.locator(".st-key-benchmark-repeat input")
    repeat.fill("1")
    repeat.press("Enter")
    settle(page)
    page.locator(".st-key-benchmark-run button").click()
    expect(page.get_by_test_id("stAlert").filter(has_text=re.compile(r"finished: \d+ of \d+ comparisons"))).to_be_visible(
        timeout=BENCH_S * 1000
    )
    expect(page.locator(".st-key-benchmark-report").get_by_role("button", name="Download report")).to_be_visible(timeout=30_000)
    settle(page)


def run_small_sweep(photo: Path) -> None:
    """A streamed model and the classifier at 1 and 2 at once, from the command line on the same local cloud: the
    widest table of History's Streaming tab."""
    done = subprocess.run(
        [
            sys.executable, "-m", "mcv_core", "sweep", str(photo),
            "--targets", "bedrock,sagemaker", "--concurrency", "1,2", "--requests", "2", "--json",
        ],  # fmt: skip
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=BENCH_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def card_figures(page: Any) -> list[float]:
    """The height of each Compare card's five figures (latency, time to first token, output speed, tokens, cost)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=stVerticalBlock]')]
            .filter(b => b.querySelectorAll(':scope > div [data-testid=stMetric]').length === 5
                      && b.querySelectorAll('[data-testid=stVerticalBlock] [data-testid=stVerticalBlock]').length === 0)
            .map(b => { const m = b.querySelectorAll('[data-testid=stMetric]');
                        return m[4].getBoundingClientRect().bottom - m[0].getBoundingClientRect().top; })"""
    )


def test_every_page_reads_well_at_1024_and_1440(
    browser: Any, streamlit_server: Any, cat_jpeg: bytes, tmp_path: Path, shots: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        photo = tmp_path / "cat.jpg"
        photo.write_bytes(cat_jpeg)
        compare_cat(page, streamlit_server.url, photo)
        run_small_sweep(photo)
        run_small_benchmark(page)

        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            nav(page, "Compare")
            heights = card_figures(page)
            assert len(heights) == 3, f"{width}: {len(heights)} cards with five figures"
            assert max(heights) - min(heights) < 1, f"{width}: the cards' figures differ in height: {heights}"
            shoot(page, shots / f"compare-{width}.png", width, height)
            check_view(page, f"Compare at {width}")

            nav(page, "Benchmark")
            expect(page.get_by_test_id("stAlert").filter(has_text="finished:")).to_be_visible()
            shoot(page, shots / f"benchmark-{width}.png", width, height)
            check_view(page, f"Benchmark at {width}")

            nav(page, "History")
            for tab in HISTORY_TABS:
                page.get_by_role("tab", name=tab, exact=True).click(timeout=TAB_S * 1000)
                expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")
                settle(page)
                shoot(page, shots / f"history-{re.sub(r'[^a-z]+', '-', tab.lower()).strip('-')}-{width}.png", width, height)
                check_view(page, f"History, {tab}, at {width}")
            page.get_by_role("tab", name="Latency", exact=True).click(timeout=TAB_S * 1000)
            settle(page)

            # The scorecard of the last 24 hours: the comparison's three models and the benchmark's classifier.
            nav(page, "Scorecard")
            page.locator(".st-key-scorecard-range").get_by_role("radio", name="24 hours", exact=True).click(timeout=TAB_S * 1000)
            settle(page)
            for tab in SCORECARD_TABS:
                page.get_by_role("tab", name=tab, exact=True).click(timeout=TAB_S * 1000)
                expect(page.get_by_role("tab", name=tab, exact=True)).to_have_attribute("aria-selected", "true")
                settle(page)
                shoot(page, shots / f"scorecard-{tab.lower()}-{width}.png", width, height)
                check_view(page, f"Scorecard, {tab}, at {width}")
            page.get_by_role("tab", name="Pairs", exact=True).click(timeout=TAB_S * 1000)
            settle(page)

            nav(page, "Arena")
            expect(page.get_by_role("button", name="A is better")).to_be_visible(timeout=60_000)
            shoot(page, shots / f"arena-{width}.png", width, height)
            check_view(page, f"Arena at {width}")

            nav(page, "Infrastructure")
            expect(page.get_by_text(re.compile(r"^\d+ ok · \d+ warn · \d+ fail$"))).to_be_visible(timeout=90_000)
            settle(page)
            shoot(page, shots / f"infrastructure-{width}.png", width, height)
            check_view(page, f"Infrastructure at {width}")
    finally:
        context.close()
