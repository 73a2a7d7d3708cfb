"""The HTML report: self-contained (no external URL, plotly.js once), every chart, escaped answers, thumbnails."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from io import BytesIO
from typing import Any

import pytest
from PIL import Image
from plotly.offline import get_plotlyjs

from mcv_core import analytics, charts, report, targets
from mcv_core.config import Settings
from mcv_core.analytics import Filters
from tests.unit.test_analytics import T0, _known, item, make_items, to_frame

CATALOGUE = targets.defaults(Settings.load())  # the built-in catalogue: the ids make_items uses
EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


class Parsed(HTMLParser):
    """Tags with their attributes, script bodies, and the visible text."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def jpeg(color: str = "red") -> bytes:
    out = BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "JPEG")
    return out.getvalue()


def grid() -> list[dict[str, Any]]:
    return [
        {
            "image_name": "cat.jpg",
            "thumbnail_jpeg": jpeg("red"),
            "results": {
                "bedrock": {"status": "ok", "output": EVIL, "latency_ms": 1234.5, "cost_usd": 0.00061, "error": None},
                "sagemaker": {"status": "ok", "output": "Egyptian cat 0.77", "latency_ms": 61.0, "cost_usd": 2e-5, "cold_start": True},
                "azure_openai": {
                    "status": "error", "output": "", "latency_ms": 30000, "cost_usd": None,
                    "error_type": "timeout", "error": "no answer in 30 s </td><b>bold</b>",
                },
            },
        },
        {"image_name": "<b>gone.png</b>", "thumbnail_jpeg": None, "results": {"bedrock": {"status": "ok", "output": "a coin"}}},
    ]


@pytest.fixture(scope="module")
def document() -> str:
    frame = to_frame(make_items(3_000, seed=5))
    return report.build_report(
        frame, grid(), title="Demo <day>", subtitle="2026-03-01 – 2026-03-08 UTC", filters=Filters(providers=("bedrock", "sagemaker"), since=T0),
        legend=charts.legend_for(frame, CATALOGUE),
    )


@pytest.fixture(scope="module")
def parsed(document: str) -> Parsed:
    return Parsed(document)


def test_no_external_urls_anywhere_in_attributes_or_scripts(parsed: Parsed) -> None:
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value[:80])
    assert all("src" not in attrs for attrs in parsed.find("script"))  # every script is inline
    assert parsed.find("link") == []  # no stylesheet or preload from elsewhere
    for tag, attrs in parsed.tags:
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/jpeg;base64,")


def test_plotly_js_is_inlined_exactly_once(document: str, parsed: Parsed) -> None:
    bundle = get_plotlyjs()
    assert document.count(bundle) == 1
    assert sum(1 for script in parsed.scripts if len(script) > 1_000_000) == 1
    # one script per chart besides the bundle, each drawing into its own div
    assert len(parsed.scripts) == 1 + len(charts.ALL_CHARTS)
    assert sum("Plotly.newPlot" in s for s in parsed.scripts) == len(charts.ALL_CHARTS)


def test_every_chart_has_its_div(parsed: Parsed) -> None:
    ids = {attrs.get("id") for attrs in parsed.find("div")}
    for spec in charts.ALL_CHARTS:
        assert f"chart-{spec.key}" in ids


def test_thumbnails_are_embedded_as_base64(parsed: Parsed) -> None:
    images = parsed.find("img")
    assert len(images) == 1  # the second row's image is no longer stored
    data = images[0]["src"].split(",", 1)[1]
    assert base64.b64decode(data) == jpeg("red")
    assert images[0]["alt"] == "cat.jpg"
    assert "image no longer stored" in "".join(parsed.text)


def test_model_output_is_escaped_text(document: str, parsed: Parsed) -> None:
    text = "".join(parsed.text)
    assert EVIL in text  # shown as text, exactly as the model wrote it
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in document
    assert not any("pwned" in script for script in parsed.scripts)
    assert {attrs.get("src") for attrs in parsed.find("img")} == {parsed.find("img")[0]["src"]}  # no img from EVIL
    assert "no answer in 30 s </td><b>bold</b>" in text
    assert "<b>bold</b>" not in document and "<b>gone.png</b>" not in document
    assert [tag for tag, _ in parsed.tags].count("b") == 0


def test_header_describes_the_selection(document: str, parsed: Parsed) -> None:
    text = " ".join(parsed.text)
    assert "<title>Demo &lt;day&gt;</title>" in document
    assert "Demo <day>" in text and "2026-03-01 – 2026-03-08 UTC" in text
    assert re.search(r"3,000 results in 1,000 comparisons, \d+ errors", text)
    assert "models: Amazon Bedrock, SageMaker Serverless" in text and "since: 2026-03-02 10:00:00 UTC" in text
    assert "SageMaker Serverless" in text and "Amazon Bedrock" in text and "Azure OpenAI" in text


def test_tables_are_present_and_formatted(parsed: Parsed) -> None:
    classes = [attrs.get("class") for attrs in parsed.find("table")]
    assert classes == ["summary", "percentiles", "penalty", "grid"]
    text = " ".join(parsed.text)
    assert "Median, 95% CI low" in text and "Per 1,000 images" in text and "not reported" in text
    assert "median_ci_low" not in text and "penalty_ratio" not in text and "Cold ÷ warm" in text


def test_report_of_known_numbers() -> None:
    document = report.build_report(_known(), [], title="Known", subtitle="", filters=Filters())
    text = " ".join(Parsed(document).text)
    assert "250 ms" in text  # bedrock p50 of 100..400
    assert "1,980 ms" in text and "100×" in text  # sagemaker's cold-start penalty
    assert "$2.00" in text  # bedrock per 1,000 images
    assert "$0.00002" in text and "$0.02" in text  # sagemaker per image, never rounded to zero, and per 1,000
    assert "No comparisons were picked" in text
    assert "Filters none" in text.replace("  ", " ")


def test_report_of_an_empty_selection_still_builds() -> None:
    document = report.build_report(to_frame([]), [], title="Nothing", subtitle="")
    parsed = Parsed(document)
    assert "Filters" not in " ".join(parsed.text)  # not given: not claimed to be "none"
    assert document.count("No results in this selection") >= len(charts.ALL_CHARTS)
    assert {f"chart-{spec.key}" for spec in charts.ALL_CHARTS} <= {a.get("id") for a in parsed.find("div")}


def test_data_cannot_break_out_of_a_chart_script() -> None:
    frame = to_frame([item("</script><script>alert(1)</script>", latency_ms=10, cost_usd=0.1)])
    document = report.build_report(frame, [], title="x", subtitle="")
    parsed = Parsed(document)
    assert len(parsed.scripts) == 1 + len(charts.ALL_CHARTS)
    assert not any(s.strip().startswith("alert(1)") for s in parsed.scripts)
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in document  # in the tables, as text


def test_thumbnail_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        report.grid_html([{"image_name": "a", "thumbnail_jpeg": "not bytes", "results": {}}])


def test_grid_names_targets_by_the_legend_then_by_their_stored_titles() -> None:
    rows = [
        {
            "image_name": "cat.jpg",
            "thumbnail_jpeg": None,
            "results": {
                "retired": {"status": "ok", "output": "a cat", "title": "Retired model <old>"},
                "azure_openai": {"status": "ok", "output": "a tabby"},
                "bedrock": {"status": "ok", "output": "a cat on a rug"},
            },
        }
    ]
    legend = charts.legend(CATALOGUE.ids, CATALOGUE)
    parsed = Parsed(report.grid_html(rows, legend))
    heads = [h for h in parsed.text if h.strip()][:4]
    assert heads == ["Image", "Amazon Bedrock", "Azure OpenAI", "Retired model <old>"]  # catalogue order, then the rest
    swatches = [a["style"] for a in parsed.find("span")]
    assert swatches[:2] == [f"background:{CATALOGUE.color('bedrock')}", f"background:{CATALOGUE.color('azure_openai')}"]
    assert swatches[2] not in swatches[:2]
    # Without a legend: every target by its stored title, else its id.
    assert [h for h in Parsed(report.grid_html(rows)).text if h.strip()][:4] == ["Image", "azure_openai", "bedrock", "Retired model <old>"]


# --- numbers people can read ---------------------------------------------------------------------------------------

BARE = re.compile(r"\b(None|nan|NaN|NaT|inf)\b")


def _without_bundle(document: str) -> str:
    return document.replace(get_plotlyjs(), "")


def test_no_none_nan_or_rounded_to_zero_money_anywhere(document: str, parsed: Parsed) -> None:
    text = " ".join(parsed.text)
    assert not BARE.search(text), BARE.search(text)
    assert "$0.000000" not in document and "$0.0000 " not in text
    rest = _without_bundle(document)  # the charts' labels and hovers included
    assert "$0.000000" not in rest
    for match in re.finditer(r'"(text|hovertext|ticktext|name)":\s*(\[[^\]]*\]|"[^"]*")', rest):
        assert not BARE.search(match.group(2)), match.group(0)[:200]


def test_unknowns_are_dashes_with_a_reason() -> None:
    frame = to_frame(
        [
            item("bedrock", latency_ms=100, cost_usd=None),  # no price, not labelled, no cold-start flag
            item("sagemaker", latency_ms=30, cold_start=True, cost_usd=0.0000012),  # cold only
            item("azure_openai", status="error", error_type="timeout"),  # nothing succeeded
        ]
    )
    document = report.build_report(frame, [], title="Gaps", subtitle="", legend=charts.legend_for(frame, CATALOGUE))
    text = " ".join(Parsed(document).text)
    assert not BARE.search(text), BARE.search(text)
    for reason in ("price unknown", "no labelled images", "not reported", "no successful calls", "no warm calls"):
        assert f"– {reason}" in text, reason
    assert "$0.0000012" in text and "$0.0012" in text  # per call and per 1,000 images
    assert "sagemaker" not in text and "azure_openai" not in text and "SageMaker Serverless" in text


def test_durations_counts_and_percentages_are_formatted() -> None:
    items = [item("bedrock", latency_ms=12_345 + i, minutes=i) for i in range(1_200)]
    items += [item("bedrock", status="error", minutes=2_000)]
    text = " ".join(Parsed(report.build_report(to_frame(items), [], title="t", subtitle="")).text)
    assert "12.9 s" in text  # p50 above 10 s: in seconds
    assert "1,201" in text and "1,200" in text  # calls with separators
    assert "0.1%" in text  # error rate 1 of 1,201, 0 to 100 with %
    assert "12345" not in text and "0.000832" not in text


def test_numeric_columns_are_right_aligned_headers_and_cells_alike(document: str, parsed: Parsed) -> None:
    css = re.search(r"<style>(.*?)</style>", document, re.S).group(1)
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        for selector in selectors.split(","):
            rules[selector.strip()] = rules.get(selector.strip(), "") + body
    assert "text-align: right" in rules["th.num"] and "text-align: right" in rules["td.num"]
    assert "text-align: left" in rules["th"] and "text-align: left" in rules["td"]
    for table in re.findall(r'<table class="(?:summary|percentiles|penalty)">(.*?)</table>', document, re.S):
        head = re.findall(r"<th(\s[^>]*)?>", table)
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1]):
            cells = re.findall(r"<td(\s[^>]*)?>", row)
            assert cells == head, (head, cells)  # every column: header and cells with the same class
        assert 'class="num"' in "".join(head) and "<th>" in table  # numbers right, text left
