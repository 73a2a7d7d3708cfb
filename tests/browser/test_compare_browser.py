"""The Compare page in a real browser: upload a photo, press Compare, see every model's answer side by side."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.browser

PROVIDERS = {"sagemaker": "SageMaker Serverless", "bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
# The first comparison of a session pays for cold starts (torch imports, model loads) on a busy machine.
ANSWERS_S = 180
CAT = re.compile(r"\b(cat|tabby|egyptian mau|lynx)\b", re.IGNORECASE)
FIGURES = ["Latency", "Time to first token", "Output speed", "Tokens in / out", "Cost"]  # every card, in order


def card(page: Any, title: str) -> Any:
    """A result card: the nearest block around the target's bold title (the pills show titles too, not bold)."""
    return page.locator(
        f"xpath=//strong[normalize-space()='{title}']/ancestor::div[@data-testid='stVerticalBlock'][1]"
    )


def open_compare(page: Any, url: str) -> tuple[Any, Any]:
    from playwright.sync_api import expect

    page.goto(url)
    uploader = page.locator(".st-key-compare-files input[type=file]")
    go = page.locator(".st-key-compare-go button")
    expect(go).to_be_visible(timeout=60_000)
    return uploader, go


def compare_photo(
    page: Any, url: str, photo: Path, titles: dict[str, str] = PROVIDERS, unselect: tuple[str, ...] = (), reload: bool = True
) -> None:
    """Open the page (unless it is open: `reload=False`), (un)select targets, upload `photo`, press Compare and
    wait until every target of `titles` has answered and the run ended."""
    from playwright.sync_api import expect

    uploader, go = open_compare(page, url) if reload else (
        page.locator(".st-key-compare-files input[type=file]"), page.locator(".st-key-compare-go button")
    )
    expect(go).to_have_text(re.compile(r"Compare$"))
    expect(go).to_be_disabled()
    pills = page.locator(".st-key-compare-targets")
    for title in [*titles.values(), *unselect]:
        expect(pills.get_by_text(title, exact=True)).to_be_visible()
    # The photo first: an upload kept in the session survives the reruns the clicks below start, where a file
    # set while such a rerun redraws the uploader could be lost.
    uploader.set_input_files(str(photo))
    expect(page.get_by_test_id("stFileChipName")).to_have_text(photo.name, timeout=30_000)
    for title in unselect:  # every target is selected by default: a click takes one out
        pills.get_by_role("button", name=title, exact=True).click()
        expect(pills.get_by_role("button", name=title, exact=True)).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=30_000)  # the reruns are over
    expect(page.get_by_test_id("stFileChipName")).to_have_text(photo.name)
    expect(go).to_be_enabled()
    go.click()

    # Each card is drawn (with dashes) when its call starts and takes its figures when its target answers: wait
    # for every latency, then for the run to end.
    for title in titles.values():
        latency = card(page, title).get_by_test_id("stMetricValue").first
        expect(latency).to_have_text(re.compile(r"\d"), timeout=ANSWERS_S * 1000)
    expect(page.get_by_text(re.compile("^Waiting for"))).to_have_count(0)
    expect(page.get_by_test_id("stProgress")).to_have_count(0, timeout=30_000)


def test_compare_a_photo_in_the_browser(guarded_page: Any, streamlit_server: Any, cat_jpeg: bytes, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(cat_jpeg)
    compare_photo(page, streamlit_server.url, photo)

    for title in PROVIDERS.values():
        shown = card(page, title)
        expect(shown).to_have_count(1)
        expect(shown.get_by_test_id("stMetricLabel")).to_have_text(FIGURES)
        expect(shown.get_by_test_id("stMetricValue").first).to_have_text(re.compile(r"^[\d,.]+ (ms|s)$"))
        expect(shown.get_by_test_id("stText")).to_have_text(CAT)  # every service, in its own words, sees a cat
        expect(shown.get_by_test_id("stAlert")).to_have_count(0)

    sagemaker = card(page, PROVIDERS["sagemaker"])
    expect(sagemaker.get_by_text(re.compile(r"cold start|warm"))).to_have_count(1)
    # The label table is a canvas grid; its cells are mirrored in an accessible table.
    expect(sagemaker.get_by_test_id("glide-cell-0-0")).to_have_text(CAT, timeout=30_000)
    expect(sagemaker.get_by_test_id("glide-cell-0-4")).to_have_count(1)  # five labels

    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert not page.get_by_test_id("stAlert").count(), page.get_by_test_id("stAlert").all_inner_texts()

    # The page scrolls inside its own container: a tall viewport shows the cards. The grid paints late.
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stDataFrame] canvas')].some(c => c.clientHeight > 100)",
        timeout=30_000,
    )
    shot = tmp_path / "compare.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, f"the screenshot {shot} is nearly empty"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# Installed before the click: the lengths a card's answer had while it was streaming in, each time it changed.
GROWTH_JS = """
(title) => {
  const lengths = [];
  window.__mcvGrowth = lengths;
  const check = () => {
    const strong = [...document.querySelectorAll('strong')].find((s) => s.textContent.trim() === title);
    const card = strong && strong.closest('[data-testid=stVerticalBlock]');
    const text = card && card.querySelector('[data-testid=stText]');
    if (text && card.textContent.includes('the answer is streaming in')) {
      const n = text.textContent.length;
      if (lengths[lengths.length - 1] !== n) lengths.push(n);
    }
  };
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""


def test_an_answer_grows_on_the_page_as_it_streams(
    guarded_page: Any, streamlit_server: Any, cat_jpeg: bytes, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(cat_jpeg)
    title = PROVIDERS["bedrock"]
    page.goto(streamlit_server.url)
    expect(page.locator(".st-key-compare-go button")).to_be_visible(timeout=60_000)
    page.evaluate(GROWTH_JS, title)
    compare_photo(page, streamlit_server.url, photo, {"bedrock": title}, unselect=("SageMaker Serverless", "Azure OpenAI"), reload=False)

    lengths = page.evaluate("() => window.__mcvGrowth")
    shown = card(page, title)
    answer = shown.get_by_test_id("stText").inner_text()
    assert len(lengths) >= 3, f"the answer was seen at {len(lengths)} lengths while it streamed: {lengths}"
    assert lengths == sorted(set(lengths)) and lengths[-1] <= len(answer), lengths
    expect(shown.get_by_test_id("stMetricLabel")).to_have_text(FIGURES)
    values = shown.get_by_test_id("stMetricValue").all_inner_texts()
    assert re.fullmatch(r"[\d,.]+ (ms|s)", values[1]), f"no time to first token: {values}"
    assert re.fullmatch(r"[\d,.]+ tokens?/s", values[2]), f"no output speed: {values}"
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_result_figures_are_readable_on_a_laptop_screen(
    guarded_page: Any, streamlit_server: Any, cat_jpeg: bytes, tmp_path: Path
) -> None:
    page = guarded_page.page  # 1400 px wide
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(cat_jpeg)
    try:
        compare_photo(page, streamlit_server.url, photo)
    except AssertionError as exc:  # not the failure this test expects
        raise RuntimeError(f"the comparison itself did not complete: {exc}") from exc
    cut = page.get_by_test_id("stMetricValue").evaluate_all(
        "els => els.filter(e => { const t = e.firstElementChild || e; return t.scrollWidth > t.clientWidth + 1; })"
        ".map(e => e.innerText)"
    )
    assert cut == [], f"metric values cut off with an ellipsis: {cut}"


def test_the_page_asks_nothing_of_the_internet(guarded_page: Any, streamlit_server: Any) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    _, go = open_compare(page, streamlit_server.url)
    expect(go).to_be_disabled()
    page.wait_for_load_state("networkidle")
    assert guarded_page.outside == [], f"requests outside loopback (blocked): {guarded_page.outside}"


CATALOGUE = """
[targets.claude-35-sonnet]
service = "bedrock"
model = "anthropic.claude-3-5-sonnet-20241022-v2:0"

[targets.gpt-41-mini]
service = "openai"
model = "gpt-4.1-mini"
title = "GPT-4.1 mini"

[targets.sagemaker]
service = "sagemaker"
endpoint = "mc-vision-classifier"
"""
CHOSEN = {"claude-35-sonnet": "Claude 3.5 Sonnet (Amazon Bedrock)", "gpt-41-mini": "GPT-4.1 mini"}


@pytest.fixture
def catalogue_server(local_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server of its own, started with a targets.toml that names non-default targets (MCV_TARGETS_FILE)."""
    from tests.browser.conftest import serve_streamlit

    path = tmp_path / "targets.toml"
    path.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("MCV_TARGETS_FILE", str(path))
    with serve_streamlit(tmp_path) as server:
        yield server


def test_compare_targets_of_a_catalogue_in_the_browser(
    guarded_page: Any, catalogue_server: Any, cat_jpeg: bytes, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(cat_jpeg)
    compare_photo(page, catalogue_server.url, photo, CHOSEN, unselect=("SageMaker Serverless",))

    for title in CHOSEN.values():
        shown = card(page, title)
        expect(shown).to_have_count(1)
        expect(shown.get_by_test_id("stMetricLabel")).to_have_text(FIGURES)
        expect(shown.get_by_test_id("stText")).to_have_text(CAT)
        expect(shown.get_by_test_id("stAlert")).to_have_count(0)
    expect(card(page, "SageMaker Serverless")).to_have_count(0)  # taken out: not compared
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert guarded_page.outside == [], f"requests outside loopback (blocked): {guarded_page.outside}"
