"""The History page in a real browser, after the issue's benchmark (`sample_bench`): open it from the navigation, see
a chart drawn, download the HTML report and open that file offline; and a deep link to /history on a fresh server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

PAGES = ["Compare", "History", "Benchmark", "Scorecard", "Arena", "Infrastructure"]
LATENCY_QUESTION = "How fast is each model?"
# The report's charts (mcv_core.charts.ALL_CHARTS keys, its div ids "chart-<key>").
REPORT_CHARTS = (
    "latency", "latency_over_time", "latency_vs_size", "ttft", "output_rate", "anatomy", "cold_start_penalty", "cold_start_rate",
    "cost_per_image", "tokens", "errors", "accuracy",
)  # fmt: skip
CHART_S = 90  # a bound: the first load reads the day's results from DynamoDB and draws every chart


def nav_links(page: Any) -> Any:
    return page.get_by_test_id("stTopNavLink")


def drawn(chart: Any) -> Any:
    """A plotly chart's drawing: its SVG (or the canvas of a WebGL trace)."""
    return chart.locator("svg.main-svg, canvas").first


def latency_chart(page: Any) -> Any:
    return page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=LATENCY_QUESTION))


def shoot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, f"{path} is nearly empty"


class OfflinePage:
    """A page in a context of its own where every request but file:// is aborted, and every request is recorded."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(30_000)
        self.requested: list[str] = []
        self.blocked: list[str] = []
        self.context.on("request", lambda request: self.requested.append(request.url))
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


def test_history_charts_and_an_offline_report(
    guarded_page: Any, streamlit_server: Any, browser: Any, sample_bench: dict, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    page.goto(streamlit_server.url)
    expect(nav_links(page)).to_have_count(len(PAGES), timeout=60_000)
    nav_links(page).filter(has_text="History").click()
    expect(page).to_have_url(re.compile(r"/history$"))
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible(timeout=60_000)

    chart = latency_chart(page)
    expect(chart).to_have_count(1, timeout=CHART_S * 1000)
    expect(drawn(chart)).to_be_visible()
    expect(chart.locator(".gtitle")).to_have_text(re.compile(rf"^{re.escape(LATENCY_QUESTION)}"))
    expect(chart.locator(".boxlayer .trace").first).to_be_attached()  # the boxes themselves, not just the axes
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shoot(page, tmp_path / "history.png")

    page.get_by_role("tab", name="Export").click()
    report_button = page.locator(".st-key-history-report button")
    expect(report_button).to_be_enabled(timeout=CHART_S * 1000)
    with page.expect_download() as info:
        report_button.click()
    download = info.value
    assert download.failure() is None, download.failure()
    assert re.fullmatch(r"mc-vision-report-[\d-]+\.html", download.suggested_filename), download.suggested_filename
    report = tmp_path / download.suggested_filename
    download.save_as(str(report))
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Plotly.newPlot(" in html
    shoot(page, tmp_path / "history-export.png")
    assert guarded_page.outside == [], f"the app asked the internet for {guarded_page.outside}"

    # The report on its own: a file, in a fresh context that may not reach anything but files.
    offline = OfflinePage(browser)
    try:
        view = offline.page
        view.goto(report.as_uri())
        charts = view.locator(".js-plotly-plot")
        expect(charts).to_have_count(len(REPORT_CHARTS))
        for key in REPORT_CHARTS:
            expect(drawn(view.locator(f"#chart-{key}"))).to_be_visible()
        expect(view.locator("#chart-latency .gtitle")).to_have_text(re.compile(rf"^{re.escape(LATENCY_QUESTION)}"))
        thumbnails = view.locator("table.grid img")
        assert thumbnails.count() >= 1, "the report has no outputs grid"
        sources = thumbnails.evaluate_all("imgs => imgs.map(i => [i.getAttribute('src').slice(0, 23), i.naturalWidth])")
        assert all(src == "data:image/jpeg;base64," and width > 0 for src, width in sources), sources
        view.wait_for_load_state("networkidle")
        shoot(view, tmp_path / "report.png")
        assert any(url.startswith("file://") for url in offline.requested), "the request recorder saw nothing"
        assert offline.blocked == [], f"the report tried to reach {offline.blocked}"
        network = [url for url in offline.requested if not url.startswith(("file://", "data:"))]
        assert network == [], f"the report asked for {network}"
    finally:
        offline.close()


def test_a_deep_link_to_history_runs_through_the_router(
    guarded_page: Any, fresh_streamlit_server: Any, sample_bench: dict, tmp_path: Path
) -> None:
    """/history?bench=<id> as the very first page a fresh server serves: the navigation is app.py's (not the pages/
    folder's), and the page is filtered to the benchmark."""
    from playwright.sync_api import expect

    page = guarded_page.page
    page.goto(f"{fresh_streamlit_server.url}/history?bench={sample_bench['bench_id']}")
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible(timeout=60_000)
    links = nav_links(page)
    expect(links).to_have_count(len(PAGES))
    expect(links).to_have_text([re.compile(rf"{name}$") for name in PAGES])
    names = " ".join(links.all_inner_texts()).lower()
    assert "app" not in names.split() and "shared" not in names, names
    expect(page).to_have_title(re.compile("MC Vision"))  # app.py's page config ran
    expect(drawn(latency_chart(page))).to_be_visible(timeout=CHART_S * 1000)
    # The query string survived the first run's detour: only the benchmark's results are counted.
    results = len(sample_bench["results"])
    comparisons = len({r["run_id"] for r in sample_bench["results"]})
    expect(page.get_by_test_id("stMetricValue").nth(0)).to_have_text(f"{results:,}")
    expect(page.get_by_test_id("stMetricValue").nth(1)).to_have_text(f"{comparisons:,}")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    shoot(page, tmp_path / "history-deep-link.png")
    assert guarded_page.outside == [], f"the app asked the internet for {guarded_page.outside}"
