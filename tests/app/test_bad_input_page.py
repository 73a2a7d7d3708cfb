"""The bad-input corpus (tests/corpus.py) on the Compare page, through AppTest, against the session's local cloud.

The whole corpus is uploaded at once, as a user dropping a folder would, and compared with the SageMaker
provider. Each rejected file gets exactly one error line, naming it by its sanitised name, with its case's
message; each accepted file gets its header (oriented size and format) and an answer; nothing of a rejected file
reaches S3 or the results table; and the page keeps serving: the next rerun draws the same outcomes and a new
comparison still answers. The page runs with MCV_MAX_IMAGE_MB=1, the limit the oversize case is made for (every
other file of the corpus is far below it).
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from pages._shared import plain
from tests.corpus import ACCEPTED, BY_ID, CASES, REJECTED, Accepted, Case, Rejected

from .test_compare_page import _exceptions, app, s3_keys  # noqa: F401 - app is a fixture

COMPARE_TIMEOUT_S = 300


def media_type(case: Case) -> str:
    """What a browser sends: the type its file name suggests (the content may be anything)."""
    return mimetypes.guess_type(case.file_name.replace("\\", "/"))[0] or "application/octet-stream"


@pytest.fixture
def one_mb_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCV_MAX_IMAGE_MB", "1")


@pytest.fixture
def page(one_mb_limit: None, app: AppTest) -> AppTest:
    """test_compare_page's app, opened under the 1 MB limit (one_mb_limit is set up first)."""
    return app


@pytest.fixture
def compared(page: AppTest, workbench: Any) -> dict[str, Any]:
    """The whole corpus compared once with SageMaker; what the page showed and what the cloud holds after."""
    at = page
    assert all(case.env in ({}, {"MCV_MAX_IMAGE_MB": "1"}) for case in CASES)
    assert all(len(case.data()) <= 1024 * 1024 for case in ACCEPTED)
    before = s3_keys(workbench)
    at.file_uploader(key="compare.files").set_value([(c.file_name, c.data(), media_type(c)) for c in CASES])
    at.run()
    assert not at.exception, _exceptions(at)
    at.pills(key="compare.targets").set_value(["sagemaker"]).run()
    at.button(key="compare.go").click()
    at.run(timeout=COMPARE_TIMEOUT_S)
    assert not at.exception, _exceptions(at)
    live = {"errors": [e.value for e in at.error], "outcomes": list(at.session_state["compare.outcomes"])}
    return {"at": at, "live": live, "before": before, "after": s3_keys(workbench)}


def test_every_corpus_file_gets_its_outcome_on_the_page(compared: dict[str, Any], workbench: Any) -> None:
    at: AppTest = compared["at"]
    outcomes = compared["live"]["outcomes"]
    assert [name for name, _ in outcomes] == [case.shown for case in CASES]  # one outcome per file, in order
    errors = compared["live"]["errors"]
    assert len(errors) == len(REJECTED), errors  # one line per rejected file, none for the others

    for case, (name, outcome) in zip(CASES, outcomes):
        if isinstance(case.outcome, Rejected):
            assert isinstance(outcome, str), f"{case.id}: accepted"
            assert case.outcome.fragment in outcome, (case.id, outcome)
            line = plain(outcome)  # the core's message names the file; the page adds nothing before it
            assert errors.count(line) == 1, (case.id, line, errors)
            assert "\n" not in line and "../" not in line and "\u202e" not in line, (case.id, line)
            continue
        assert not isinstance(outcome, str), f"{case.id}: {outcome}"
        expected: Accepted = case.outcome
        image = outcome.image
        assert (image.width, image.height, image.format, image.name) == (
            expected.width,
            expected.height,
            expected.format,
            case.shown,
        ), case.id
        [result] = outcome.results
        assert result.provider == "sagemaker" and result.ok, (case.id, result.error)
        assert outcome.image_key == f"uploads/{outcome.created_at:%Y/%m/%d}/{image.sha256}.{expected.ext}"

    # Hand-written, not computed: a name with a line break and one with a right-to-left override.
    assert errors[[c.id for c in REJECTED].index("name-line-break-rejected")].startswith(
        "'evil error: all good.jpg' is not an image: it looks like plain text. "
    )
    bidi = errors[[c.id for c in REJECTED].index("name-bidi-rejected")]
    assert bidi.startswith("'invoicefdp.jpg' is") and bidi.count("invoicefdp.jpg") == 1 and "\u202e" not in bidi, bidi

    # Headers of accepted files: the sanitised name (markdown escaped) and the oriented size and format.
    headers = [m.value for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")]
    captions = [c.value for c in at.caption]
    for case in ACCEPTED:
        assert f"**{plain(case.shown)}**" in headers, case.id
        assert any(c.startswith(f"{case.outcome.caption()} · ") for c in captions), case.id

    # Stored: the accepted files under content keys, nothing of a rejected one.
    new = compared["after"] - compared["before"]
    for case in REJECTED:
        digest = hashlib.sha256(case.data()).hexdigest()
        assert not any(digest in key for key in compared["after"]), case.id
    for name, outcome in outcomes:
        if not isinstance(outcome, str):
            assert outcome.image_key in compared["after"], name
            assert {item["provider"] for item in workbench.history.run(outcome.run_id) if item.get("type") == "result"} == {"sagemaker"}
    assert all(key.startswith("uploads/") for key in new)


def test_the_page_keeps_serving_after_the_corpus(compared: dict[str, Any], cat_jpeg: bytes) -> None:
    at: AppTest = compared["at"]
    at.run()  # a rerun draws the kept outcomes again, the same errors
    assert not at.exception, _exceptions(at)
    assert [e.value for e in at.error] == compared["live"]["errors"]

    at.file_uploader(key="compare.files").set_value([("cat.jpg", cat_jpeg, "image/jpeg")])
    at.run()
    at.button(key="compare.go").click()
    at.run(timeout=COMPARE_TIMEOUT_S)
    assert not at.exception, _exceptions(at)
    assert not at.error, [e.value for e in at.error]
    [(name, run)] = at.session_state["compare.outcomes"]
    assert name == "cat.jpg" and run.results[0].ok
    assert run.results[0].labels, "the classifier answered without labels"


def test_markdown_in_a_rejected_file_name_is_shown_as_written(page: AppTest) -> None:
    """A file name is text, never formatting: emphasis, links, HTML and Streamlit's colour syntax stay literal."""
    at = page
    name = "**bold** [x](javascript:alert(1)) <b>hi :red[alarm] $x$.jpg"  # no "/": that starts a path
    at.file_uploader(key="compare.files").set_value([(name, b"", "image/jpeg")])
    at.run()
    at.button(key="compare.go").click()
    at.run()
    assert not at.exception, _exceptions(at)
    [line] = [e.value for e in at.error]
    assert line.startswith(r"'\*\*bold\*\* \[x\](javascript\:alert(1)) \<b\>hi \:red\[alarm\] \$x\$.jpg'"), line
    assert line.count("bold") == 1, f"the file name more than once: {line}"
    assert BY_ID["empty"].outcome.fragment.split("'")[-1] in line  # " is empty (0 bytes)"
