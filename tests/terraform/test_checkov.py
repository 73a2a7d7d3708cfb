"""checkov on terraform/: zero failed checks, and every skip justified beside its resource."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from .tfconfig import REPO, TERRAFORM

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(REPO)} is missing: run `make checkov-venv` (make test does it)")
    env = dict(os.environ)
    # No calls home: the suite runs offline, and checkov otherwise fetches guidelines and checks for updates.
    env.update(BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE")
    done = subprocess.run(
        [
            str(CHECKOV),
            "--directory", str(TERRAFORM),
            "--framework", "terraform",
            "--compact",
            "--skip-download",
            "--output", "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    # Exit 1 means failed checks (the report says which); anything else non-zero is checkov failing.
    assert done.returncode in (0, 1), f"checkov exited {done.returncode}:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1 and reports[0]["check_type"] == "terraform", [r.get("check_type") for r in reports]
    return reports[0]


def test_checkov_finds_no_failed_check(checkov_report: dict) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0 and not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    # Guards against a run that checked nothing (wrong directory, framework or a parser change).
    assert summary["passed"] >= 100 and summary["resource_count"] >= 30, summary


def test_checkov_skips_are_the_commented_ones(checkov_report: dict) -> None:
    # Every skip checkov applied comes from a comment with a reason (not from a command-line --skip-check).
    for check in checkov_report["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.strip()) >= 20, f"{check['check_id']} on {check['resource']} is skipped without a reason"


def _skip_comments() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted(TERRAFORM.rglob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP.search(line)
            if match:
                found.append((str(path.relative_to(REPO)), number, match.group(1), (match.group(2) or "").strip()))
    return found


def test_every_skip_comment_has_a_reason() -> None:
    skips = _skip_comments()
    assert skips, "no checkov:skip comments found: the parser is broken or the skips moved"
    unjustified = [f"{path}:{line} {check}" for path, line, check, reason in skips if len(reason) < 20]
    assert not unjustified, "checkov skips need a reason (#checkov:skip=CKV_...:why):\n" + "\n".join(unjustified)


def test_skip_comments_sit_inside_a_resource() -> None:
    # A skip only applies inside the block of the resource it is about; a stray one elsewhere does nothing.
    for path, line, check, _ in _skip_comments():
        lines = (REPO / path).read_text(encoding="utf-8").splitlines()
        opening = next(
            (lines[i] for i in range(line - 2, -1, -1) if re.match(r"^(resource|data|module)\s", lines[i])),
            "",
        )
        assert opening.startswith("resource "), f"{path}:{line} {check} is not inside a resource block"
        assert all(lines[i].strip().startswith("#") for i in range(lines.index(opening) + 1, line - 1)), (
            f"{path}:{line} {check}: put skip comments first in the resource block"
        )
