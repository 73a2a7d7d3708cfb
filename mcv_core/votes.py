"""Blind human votes: a person compares two targets' answers to the same image and prompt (one run) without
knowing which is which, and says which is better: a, b, a tie, or neither (both bad).

A vote is stored under its pair with the two target ids sorted (a < b) and the winner said relative to them, so
a vote on (b, a) is a vote on the same pair as one on (a, b). A voter's second vote on a pair replaces the first
(history.py: one item per run, pair and voter, put unconditionally).

    cast(workbench, run_id, "gpt-4o", "claude-3-haiku", "a", voter="ana")
    # stored as a="claude-3-haiku", b="gpt-4o", winner="b"
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from . import models
from .errors import UsageError

if TYPE_CHECKING:
    from .workbench import Workbench

WINNERS = ("a", "b", "tie", "neither")
_SWAPPED = {"a": "b", "b": "a", "tie": "tie", "neither": "neither"}
ANONYMOUS = "anonymous"
MAX_VOTER_CHARS = 64


@dataclass(frozen=True)
class Vote:
    """One stored vote (history.VOTE_FIELDS): a < b, winner relative to them; created_at is the run's."""

    run_id: str
    a: str
    b: str
    winner: str
    voter: str
    voted_at: str
    created_at: str
    bench_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Vote":
        return cls(**{name: record.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


def sorted_pair(a: str, b: str, winner: str) -> tuple[str, str, str]:
    """(a, b, winner) with the targets sorted and the winner following its answer."""
    return (a, b, winner) if a < b else (b, a, _SWAPPED[winner])


def check_winner(winner: str) -> str:
    chosen = winner.strip().lower() if isinstance(winner, str) else ""
    if chosen not in WINNERS:
        raise UsageError(
            f"the winner {winner!r} is not one of {', '.join(WINNERS)}",
            hint="vote a (the first answer is better), b (the second), tie (as good as each other) or neither (both bad)",
        )
    return chosen


def check_voter(voter: str) -> str:
    name = " ".join(voter.split()) if isinstance(voter, str) else ""
    hint = f"give a name of at most {MAX_VOTER_CHARS} characters, or leave it out to vote as {ANONYMOUS}"
    if not name:
        raise UsageError("the voter's name is empty", hint=hint)
    if len(name) > MAX_VOTER_CHARS:
        raise UsageError(f"the voter's name is {len(name)} characters long, more than {MAX_VOTER_CHARS}", hint=hint)
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise UsageError("the voter's name has control or invisible characters in it", hint=hint)
    return name


def cast(workbench: "Workbench", run_id: str, a: str, b: str, winner: str, voter: str = ANONYMOUS) -> Vote:
    """Store one vote between the answers of targets `a` and `b` in run `run_id` (winner: a, b, tie or neither,
    relative to the order given); returns the vote as stored. Refused with a UsageError, nothing stored, when the
    winner or voter is not valid, a and b are the same, the run does not exist, or a target is not in the run or
    has no answer in it."""
    chosen = check_winner(winner)
    name = check_voter(voter)
    a, b = (a or "").strip(), (b or "").strip()
    run_id = (run_id or "").strip()
    if not a or not b:
        raise UsageError("a vote needs two targets, a and b", hint="name the two targets whose answers were compared")
    if a == b:
        raise UsageError(f"targets a and b are both {a!r}", hint="a vote compares the answers of two different targets of the run")
    if not run_id:
        raise UsageError("no run given", hint="take a run id from history --json or compare --json")
    items = workbench.history.run(run_id)
    results = {item["provider"]: item for item in items if item.get("type") == "result" and "provider" in item}
    run = next((item for item in items if item.get("type") == "run"), None) or next(iter(results.values()), None)
    if run is None:
        raise UsageError(f"no run {run_id!r} in the history", hint="take a run id from history --json or compare --json")
    answered = sorted(target for target, item in results.items() if item.get("status") == "ok")
    for target in (a, b):
        if target not in results:
            raise UsageError(f"target {target!r} is not in run {run_id!r}", hint=f"its targets are {', '.join(sorted(results))}")
        if target not in answered:
            raise UsageError(
                f"target {target!r} has no answer in run {run_id!r}: its call failed",
                hint=f"vote between targets that answered: {', '.join(answered) or 'none did'}",
            )
    first, second, relative = sorted_pair(a, b, chosen)
    vote = Vote(
        run_id=run_id,
        a=first,
        b=second,
        winner=relative,
        voter=name,
        voted_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        created_at=run["created_at"],
        bench_id=run.get("bench_id"),
    )
    workbench.history.save_vote(vote.to_record())
    return vote


def answers_in_words(result: dict[str, Any]) -> bool:
    """An ok result whose model answers in words (not our classifier's labels), with an answer to show.
    Items stored before targets existed have no service: their target id was the service's name."""
    if result.get("status") != "ok" or not str(result.get("output") or "").strip():
        return False
    service = result.get("service") or result.get("provider") or ""
    return models.family_of(service, str(result.get("model") or "")).answers_text


def arena_pairs(results: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(run_id, a, b) for every pair of text answers in the same run (a < b); runs in the order first met."""
    by_run: dict[str, set[str]] = {}
    for result in results:
        if answers_in_words(result):
            by_run.setdefault(result["run_id"], set()).add(result["provider"])
    return [
        (run_id, a, b)
        for run_id, targets in by_run.items()
        for a in sorted(targets)
        for b in sorted(targets)
        if a < b
    ]
