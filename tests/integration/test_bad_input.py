"""The bad-input corpus (tests/corpus.py) through the core and the command line, against the session's local cloud.

Every case gets its one outcome: an accepted image shows the facts its `Accepted` names (oriented size, format,
source mode, frames, sanitised name) and is stored under a key made from its content; a rejected one gives one
clear error containing its fragment (`python -m mcv_core compare`: exit 2, nothing on stdout, one line on stderr,
no traceback) and nothing reaches S3, DynamoDB or the outbox. The unit tests (tests/unit/test_images.py) cover
each check of images.py on its own; here the same files go through the surfaces a user has.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import pytest
from PIL import Image

from mcv_core.config import Settings
from mcv_core.errors import ImageError, UsageError
from mcv_core.images import SourceImage, prepare_all
from mcv_core.workbench import Workbench
from tests.corpus import ACCEPTED, BY_ID, CASES, PILLOW_WARNS_ABOVE, REJECTED, Accepted, Case, Rejected, photo_png

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]
CLI_WORKERS = 4  # command lines at once: a small pool keeps the corpus quick on two cores
KEY = re.compile(r"^uploads/(\d{4})/(\d{2})/(\d{2})/([0-9a-f]{64})\.(jpg|png|gif|webp)$")
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def cases(chosen: Iterable[Case]) -> list[Any]:
    """pytest params, one per case, named by its id."""
    return [pytest.param(case, id=case.id) for case in chosen]


def settings_for(case: Case, default: Settings) -> Settings:
    """The settings a case runs under: its env over the session's, read the way the command line reads them."""
    return Settings.load({**os.environ, **case.env}) if case.env else default


# --- the corpus itself -----------------------------------------------------------------------------------


def test_the_corpus_is_what_it_claims(workbench: Workbench) -> None:
    """Each hostile file is the thing its case says, so that a rejection is for the stated reason."""
    # The PNG bombs are real: Pillow on its own refuses the first and only warns about (then decodes) the second.
    far, warned = BY_ID["bomb-png-400mp"].data(), BY_ID["bomb-png-100mp"].data()
    assert len(far) < 64_000 and len(warned) < 64_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(far))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Image.open(io.BytesIO(warned)) as im:
            assert im.size == (10_000, 10_000) and PILLOW_WARNS_ABOVE < 10_000 * 10_000 < 2 * PILLOW_WARNS_ABOVE
    assert [w.category for w in caught] == [Image.DecompressionBombWarning]
    # The oversize file is a valid photo, rejected for its size alone (it loads under the default 20 MB).
    big = BY_ID["over-size-limit"]
    assert len(big.data()) == 1024 * 1024 + 1
    image = workbench.load_image(big.data(), big.file_name)
    assert (image.width, image.height, image.format) == (451, 300, "JPEG")
    # The truncated JPEG is a prefix of a photo that loads.
    assert workbench.load_image(BY_ID["name-traversal-posix"].data()).format == "JPEG"
    assert BY_ID["name-traversal-posix"].data().startswith(BY_ID["truncated-jpeg"].data())
    # Accepted files are distinct, so each has its own S3 key to check.
    digests = {hashlib.sha256(c.data()).hexdigest() for c in ACCEPTED}
    assert len(digests) == len(ACCEPTED)


# --- core ------------------------------------------------------------------------------------------------


def load(case: Case, workbench: Workbench) -> tuple[SourceImage | None, ImageError | None, list[str]]:
    """Workbench.load_image on the case: the image or the error, and any Pillow bomb warning that escaped."""
    bench = workbench if not case.env else Workbench(settings_for(case, workbench.settings))
    image = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = bench.load_image(case.data(), case.file_name)
        except ImageError as exc:
            error = exc
    escaped = [str(w.message) for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    return image, error, escaped


@pytest.mark.parametrize("case", cases(CASES))
def test_core(case: Case, workbench: Workbench) -> None:
    image, error, escaped = load(case, workbench)
    assert not escaped, f"Pillow's bomb warning reached the caller: {escaped}"
    outcome = case.outcome
    if isinstance(outcome, Rejected):
        assert image is None, f"accepted: {image}"
        assert isinstance(error, UsageError)
        assert outcome.fragment in error.message, error.message
        assert error.hint, "every ImageError says what to do"
        assert "\n" not in error.user_text()
        return
    assert error is None, error.user_text()
    assert image is not None
    facts = (image.width, image.height, image.format, image.mode, image.n_frames, image.name)
    assert facts == (outcome.width, outcome.height, outcome.format, outcome.mode, outcome.frames, case.shown)
    assert (image.ext, image.media_type) == (outcome.ext, MEDIA_TYPES[outcome.format])
    assert image.sha256 == hashlib.sha256(case.data()).hexdigest() and image.data == case.data()
    # Converted: RGB pixels, oriented like the stated size; what each provider receives decodes as RGB JPEG.
    assert image.pixels.mode == "RGB"
    pw, ph = image.pixels.size
    assert pw <= outcome.width and ph <= outcome.height
    assert (pw >= ph) == (outcome.width >= outcome.height) or pw == ph
    for name, prepared in prepare_all(image, workbench.image_specs).items():
        with Image.open(io.BytesIO(prepared.data)) as sent:
            sent.load()
            assert sent.format == "JPEG" and sent.mode == "RGB", name
            assert sent.size == (prepared.width, prepared.height), name


# --- the command line ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    argument: str
    returncode: int
    stdout: str
    stderr: str


def mcv(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcv_core", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def place(case: Case, root: Path) -> str:
    """Write the case's file so that the shell argument is its file name as given, `..` and all.

    "../../etc/passwd.jpg" is passed as <root>/<id>/in/side/../../etc/passwd.jpg; names without "/" (a
    backslash is an ordinary character on Linux) are files of that name.
    """
    base = root / case.id / "in" / "side"
    base.mkdir(parents=True)
    target = (base / case.file_name).resolve()
    assert target.is_relative_to(root.resolve()), target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(case.data())
    return str(base / case.file_name)


def run_cli(case: Case, root: Path, *extra: str) -> Done:
    argument = place(case, root)
    done = mcv("compare", argument, *extra, env=dict(case.env))
    return Done(argument, done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Stored:
    """What the local cloud holds: S3 keys and versions under uploads/, table items, outbox files."""

    keys: frozenset[str]
    versions: frozenset[tuple[str, str]]
    items: int
    recent_results: frozenset[tuple[str, str]]
    outbox: frozenset[str]


def stored(bench: Workbench, since: datetime) -> Stored:
    s3 = bench.clients.aws("s3")
    bucket = bench.store.bucket
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="uploads/"):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    versions: set[tuple[str, str]] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="uploads/"):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            versions.add((entry["Key"], entry["VersionId"]))
    dynamodb = bench.clients.aws("dynamodb")
    items = sum(
        page["Count"]
        for page in dynamodb.get_paginator("scan").paginate(TableName=bench.history.table, Select="COUNT")
    )
    recent = {(r["run_id"], r["provider"]) for r in bench.history.results(since=since)}
    outbox_dir = bench.settings.data_dir / "outbox"
    outbox = {str(p) for p in outbox_dir.rglob("*") if p.is_file()} if outbox_dir.exists() else set()
    return Stored(frozenset(keys), frozenset(versions), items, frozenset(recent), frozenset(outbox))


def run_all(chosen: Iterable[Case], root: Path, *extra: str) -> dict[str, Done]:
    chosen = list(chosen)
    with ThreadPoolExecutor(max_workers=CLI_WORKERS) as pool:
        done = list(pool.map(lambda case: run_cli(case, root, *extra), chosen))
    return {case.id: result for case, result in zip(chosen, done)}


@pytest.fixture(scope="module")
def rejected_on_cli(workbench: Workbench, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every rejected case through `compare FILE`, all of them between two snapshots of what is stored."""
    root = tmp_path_factory.mktemp("rejected")
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    before = stored(workbench, since)
    runs = run_all(REJECTED, root)
    after = stored(workbench, since)
    return {"runs": runs, "before": before, "after": after}


@pytest.mark.parametrize("case", cases(REJECTED))
def test_cli_rejects_with_one_line(case: Case, rejected_on_cli: dict[str, Any]) -> None:
    done: Done = rejected_on_cli["runs"][case.id]
    assert isinstance(case.outcome, Rejected)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{done.stderr}"
    assert lines[0].startswith("error: ") and case.outcome.fragment in lines[0], lines[0]
    assert done.stderr.endswith("\n")


def test_rejected_files_store_nothing(rejected_on_cli: dict[str, Any]) -> None:
    before, after = rejected_on_cli["before"], rejected_on_cli["after"]
    assert after.keys == before.keys
    assert after.versions == before.versions
    assert after.items == before.items
    assert after.recent_results == before.recent_results == frozenset()
    assert after.outbox == before.outbox


@pytest.fixture(scope="module")
def accepted_on_cli(workbench: Workbench, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    """Every accepted case through `compare FILE --providers sagemaker --json`."""
    root = tmp_path_factory.mktemp("accepted")
    first, *rest = ACCEPTED
    runs = run_all([first], root, "--providers", "sagemaker", "--json")  # pays any cold start on its own
    runs.update(run_all(rest, root, "--providers", "sagemaker", "--json"))
    return runs


@pytest.mark.parametrize("case", cases(ACCEPTED))
def test_cli_accepts_and_stores_under_a_server_key(
    case: Case, accepted_on_cli: dict[str, Done], workbench: Workbench
) -> None:
    done = accepted_on_cli[case.id]
    outcome = case.outcome
    assert isinstance(outcome, Accepted)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    doc = json.loads(done.stdout)
    image = doc["image"]
    assert (image["width"], image["height"], image["format"]) == (outcome.width, outcome.height, outcome.format)
    assert image["name"] == case.shown
    assert image["bytes"] == len(case.data())
    digest = hashlib.sha256(case.data()).hexdigest()
    assert image["sha256"] == digest
    [result] = doc["results"]
    assert result["provider"] == "sagemaker" and result["status"] == "ok", result["error"]
    assert result["labels"], "the classifier returned no labels"

    # The key: uploads/<the run's UTC date>/<sha256>.<ext>, nothing from the user's file name.
    key = image["key"]
    match = KEY.match(key)
    assert match, key
    created = datetime.fromisoformat(doc["created_at"]).astimezone(timezone.utc)
    assert match.groups() == (f"{created:%Y}", f"{created:%m}", f"{created:%d}", digest, outcome.ext)
    assert ".." not in key and "\\" not in key
    stem = case.shown.rsplit(".", 1)[0]
    assert stem not in key and case.file_name not in key

    s3 = workbench.clients.aws("s3").get_object(Bucket=workbench.store.bucket, Key=key)
    assert s3["Body"].read() == case.data()
    assert s3["ContentType"] == MEDIA_TYPES[outcome.format]
    assert s3["Metadata"]["original-name"] == quote(case.shown, safe="")

    items = workbench.history.run(doc["run_id"])
    assert sorted(item["sk"] for item in items) == ["RESULT#sagemaker", "RUN"]
    for item in items:
        assert item["image_key"] == key and item["image_name"] == case.shown
        assert (item["image_width"], item["image_height"], item["image_format"]) == (
            outcome.width,
            outcome.height,
            outcome.format,
        )


def test_a_mixed_batch_stops_before_storing_anything(workbench: Workbench, tmp_path: Path) -> None:
    """`compare good.png bad.txt`: every file is checked first, so the good one is not stored either."""
    good = photo_png("a mixed batch")  # bytes no other test stores
    (tmp_path / "good.png").write_bytes(good)
    (tmp_path / "bad.txt").write_bytes(b"not a picture\n")
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    before = stored(workbench, since)
    done = mcv("compare", str(tmp_path / "good.png"), str(tmp_path / "bad.txt"), "--providers", "sagemaker")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 'bad.txt' is not an image: it looks like plain text"), lines
    after = stored(workbench, since)
    assert after == before
    digest = hashlib.sha256(good).hexdigest()
    assert not any(digest in key for key in after.keys)


def test_the_app_keeps_serving_after_the_corpus(
    rejected_on_cli: dict[str, Any], accepted_on_cli: dict[str, Done], tmp_path: Path, cat_jpeg: bytes
) -> None:
    """After the whole corpus (both fixtures ran), a normal comparison of the cat still answers."""
    assert len(rejected_on_cli["runs"]) == len(REJECTED) and len(accepted_on_cli) == len(ACCEPTED)
    (tmp_path / "cat.jpg").write_bytes(cat_jpeg)
    done = mcv("compare", str(tmp_path / "cat.jpg"), "--providers", "sagemaker", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["image"]["width"], doc["image"]["height"]) == (451, 300)
    [result] = doc["results"]
    assert result["status"] == "ok", result["error"]
    top = [label["label"].lower() for label in result["labels"][:3]]
    assert any(word in label for label in top for word in ("cat", "tabby", "egyptian mau", "lynx")), top
    status = mcv("local", "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
