"""DynamoDB history: one run item and one item per target's result, read back through Query on two indexes.

Layout (table keys pk/sk; see docs/ARCHITECTURE.md):
  run       pk=RUN#<run_id>  sk=RUN
  result    pk=RUN#<run_id>  sk=RESULT#<provider>     (provider: the target id; service and model on every item)
            gsi1pk=DAY#<YYYY-MM-DD>      gsi1sk=<created_at>#<run_id>#<provider>   (index by_time)
            gsi2pk=PROVIDER#<provider>   gsi2sk=<created_at>#<run_id>              (index by_provider)
  judgment  pk=RUN#<run_id>  sk=JUDGE#<target>#<judge>#<rubric_id>   (an LLM judge's score of one result)
            gsi1pk=JUDGE#<YYYY-MM-DD>    gsi1sk=<created_at>#<run_id>#<target>#<judge>#<rubric_id>
  vote      pk=VOTE#<run_id>#<a>#<b>  sk=VOTER#<voter>   (a person's blind vote between two answers, a < b)
            gsi1pk=VOTE#<YYYY-MM-DD>     gsi1sk=<created_at>#<run_id>#<a>#<b>#<voter>
Judgments and votes carry the judged run's created_at (their by_time day is that of the run), so a time range
selects results and their judgments and votes alike; they have partitions of their own, never the DAY# ones
results are read from. Every item expires with its run (TTL on expires_at).

Run, result and judgment writes are conditional on the item not existing, so writing the same run (or the same
judgment) twice stores it once. A vote is put unconditionally: a voter's second vote on a pair replaces the first.
A run whose items cannot be written goes to the local outbox (outbox.py) and is written from there later.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import botocore.exceptions as bce
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from . import stack
from .clients import Clients
from .config import Settings
from .errors import StorageError, UsageError
from .outbox import FlushResult, Outbox
from .records import Run, SaveOutcome
from .storage import storage_error

log = logging.getLogger(__name__)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Attributes of a result item that views read (history --json prints these).
RESULT_FIELDS = (
    "run_id",
    "created_at",
    "provider",
    "service",
    "title",
    "model",
    "status",
    "output",
    "labels",
    "latency_ms",
    "provider_latency_ms",
    "ttft_ms",
    "output_tokens_per_s",
    "streamed",
    "cold_start",
    "input_tokens",
    "output_tokens",
    "image_tokens",
    "cost_usd",
    "attempts",
    "error_type",
    "error",
    "timings",
    "image_key",
    "image_sha256",
    "image_name",
    "image_format",
    "image_width",
    "image_height",
    "image_bytes",
    "sent_width",
    "sent_height",
    "prompt",
    "source",
    "bench_id",
    "sweep_id",
    "concurrency",
    "expected",
    "correct",
    "mode",
    "job_id",
)
# What the analytics views read: no answer text, labels or prompt (the outputs browser reads those per run).
ANALYTIC_FIELDS = (
    "run_id",
    "created_at",
    "provider",
    "service",
    "title",
    "model",
    "status",
    "latency_ms",
    "provider_latency_ms",
    "ttft_ms",
    "output_tokens_per_s",
    "streamed",
    "timings",  # a few numbers: the anatomy (records.anatomy)
    "cold_start",
    "input_tokens",
    "output_tokens",
    "image_tokens",
    "cost_usd",
    "attempts",
    "error_type",
    "image_key",
    "image_name",
    "image_width",
    "image_height",
    "image_bytes",
    "source",
    "bench_id",
    "sweep_id",
    "concurrency",
    "correct",
    "mode",
    "job_id",
    stack.TTL_ATTRIBUTE,
)
# A judgment item's attributes (see mcv_core/judge.py): whose answer (run_id, target) was scored by which judge
# and rubric; the judge's own tokens, cost and latency; created_at is the judged result's.
JUDGMENT_FIELDS = (
    "run_id",
    "target",
    "judge",
    "judge_model",
    "rubric_id",
    "score",
    "reason",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "judged_at",
    "created_at",
    "bench_id",
    "image_key",
)
# A vote item's attributes (see mcv_core/votes.py): a and b sorted (a < b), winner "a", "b", "tie" or "neither"
# relative to them; created_at is the run's.
VOTE_FIELDS = ("run_id", "a", "b", "winner", "voter", "voted_at", "created_at", "bench_id")
# A day's partition is complete once the day is over by this much (clocks and in-flight writes).
SEAL_AFTER = timedelta(minutes=10)
# bench-YYYYmmddTHHMMSS-xxxxxx (bench.new_bench_id): the id carries the benchmark's start.
_BENCH_ID = re.compile(r"bench-(\d{8}T\d{6})-[0-9a-f]+")
# Runs whose judgments are read at once (judgments_for_runs: one Query per run).
READ_THREADS = 8


def _to_dynamo(value: Any) -> Any:
    """Python -> what TypeSerializer accepts: floats become Decimals, None values are dropped."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: v for k, v in ((k, _to_dynamo(v)) for k, v in value.items()) if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _marshal(item: dict[str, Any]) -> dict[str, Any]:
    clean = _to_dynamo(item)
    return {k: _serializer.serialize(v) for k, v in clean.items()}


def _unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_items(run: Run, ttl_days: int) -> list[dict[str, Any]]:
    """The items one run writes: its run item first, then one per result. Pure, for tests and the outbox."""
    created = _iso(run.created_at)
    expires = {stack.TTL_ATTRIBUTE: int(run.created_at.timestamp()) + ttl_days * 86400} if ttl_days > 0 else {}
    image = run.image
    image_fields = {
        "image_key": run.image_key,
        "image_sha256": image.sha256,
        "image_name": image.name,
        "image_format": image.format,
        "image_width": image.width,
        "image_height": image.height,
        "image_bytes": image.size_bytes,
        "prompt": run.prompt,
        "source": run.source,
        "bench_id": run.bench_id,
        "sweep_id": run.sweep_id,
        "concurrency": run.concurrency,
        "expected": list(run.expected) or None,
    }
    items: list[dict[str, Any]] = [
        {
            "pk": f"RUN#{run.run_id}",
            "sk": "RUN",
            "type": "run",
            "run_id": run.run_id,
            "created_at": created,
            "providers": list(run.providers),
            "wall_ms": run.wall_ms,
            **image_fields,
            **expires,
        }
    ]
    for result in run.results:
        data = result.to_dict()
        items.append(
            {
                "pk": f"RUN#{run.run_id}",
                "sk": f"RESULT#{result.provider}",
                "type": "result",
                "run_id": run.run_id,
                "created_at": created,
                "gsi1pk": f"DAY#{created[:10]}",
                "gsi1sk": f"{created}#{run.run_id}#{result.provider}",
                "gsi2pk": f"PROVIDER#{result.provider}",
                "gsi2sk": f"{created}#{run.run_id}",
                **{k: v for k, v in data.items() if k not in ("image_width", "image_height")},
                "sent_width": result.image_width,
                "sent_height": result.image_height,
                **image_fields,
                **expires,
            }
        )
    return [{k: v for k, v in item.items() if v is not None} for item in items]


def _expires(created_at: str, ttl_days: int) -> dict[str, int]:
    """The TTL attribute of an item that lives as long as the run created at `created_at` (ISO UTC)."""
    if ttl_days <= 0:
        return {}
    created = datetime.fromisoformat(created_at)
    return {stack.TTL_ATTRIBUTE: int(created.timestamp()) + ttl_days * 86400}


def _require(record: dict[str, Any], fields: Sequence[str], kind: str) -> None:
    missing = [name for name in fields if not isinstance(record.get(name), str) or not record[name]]
    if missing:
        raise ValueError(f"a {kind} needs {', '.join(missing)}")


def judgment_item(record: dict[str, Any], ttl_days: int) -> dict[str, Any]:
    """The item one judgment writes (JUDGMENT_FIELDS plus keys, type and TTL). Pure, for tests."""
    _require(record, ("run_id", "target", "judge", "rubric_id", "created_at", "judged_at"), "judgment")
    score = record.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValueError(f"a judgment's score is an integer 1..5, not {score!r}")
    fields = {name: record.get(name) for name in JUDGMENT_FIELDS}
    run_id, target, judge, rubric, created = (fields[k] for k in ("run_id", "target", "judge", "rubric_id", "created_at"))
    item = {
        "pk": f"RUN#{run_id}",
        "sk": f"JUDGE#{target}#{judge}#{rubric}",
        "type": "judgment",
        "gsi1pk": f"JUDGE#{created[:10]}",
        "gsi1sk": f"{created}#{run_id}#{target}#{judge}#{rubric}",
        **fields,
        **_expires(created, ttl_days),
    }
    return {k: v for k, v in item.items() if v is not None}


def vote_item(record: dict[str, Any], ttl_days: int) -> dict[str, Any]:
    """The item one vote writes (VOTE_FIELDS plus keys, type and TTL). Pure, for tests."""
    _require(record, ("run_id", "a", "b", "winner", "voter", "voted_at", "created_at"), "vote")
    if not record["a"] < record["b"]:
        raise ValueError(f"a vote's targets are stored sorted (a < b), not {record['a']!r}, {record['b']!r}")
    fields = {name: record.get(name) for name in VOTE_FIELDS}
    run_id, a, b, voter, created = (fields[k] for k in ("run_id", "a", "b", "voter", "created_at"))
    item = {
        "pk": f"VOTE#{run_id}#{a}#{b}",
        "sk": f"VOTER#{voter}",
        "type": "vote",
        "gsi1pk": f"VOTE#{created[:10]}",
        "gsi1sk": f"{created}#{run_id}#{a}#{b}#{voter}",
        **fields,
        **_expires(created, ttl_days),
    }
    return {k: v for k, v in item.items() if v is not None}


def bench_started(bench_id: str) -> datetime:
    """When a benchmark started, from its id (bench-YYYYmmddTHHMMSS-xxxxxx); a UsageError for anything else."""
    hint = "benchmark ids look like bench-20261124T101500-a1b2c3 (bench --json prints its bench_id)"
    match = _BENCH_ID.fullmatch(bench_id.strip()) if isinstance(bench_id, str) else None
    if match is None:
        raise UsageError(f"{bench_id!r} is not a benchmark id", hint=hint)
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise UsageError(f"{bench_id!r} carries no valid start time", hint=hint) from None


class DayCache:
    """Complete day partitions of the results table, kept on disk as gzipped JSON (one file per day and
    field list). Only days that are over are stored; a write into a stored day drops that day."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, day: str, fields: Sequence[str]) -> Path:
        digest = hashlib.sha256("\n".join(fields).encode()).hexdigest()[:12]
        return self.root / digest / f"{day}.json.gz"

    def get(self, day: str, fields: Sequence[str]) -> list[dict[str, Any]] | None:
        try:
            with gzip.open(self._path(day, fields), "rt") as handle:
                return json.load(handle)
        except (OSError, ValueError):  # absent, or damaged by a crash: read the day again
            return None

    def put(self, day: str, fields: Sequence[str], items: list[dict[str, Any]]) -> None:
        path = self._path(day, fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with gzip.open(tmp, "wt") as handle:
            json.dump(items, handle)
        os.replace(tmp, path)

    def drop(self, day: str) -> None:
        for path in self.root.glob(f"*/{day}.json.gz"):
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        for path in self.root.glob("*/*.json.gz"):
            path.unlink(missing_ok=True)


class History:
    def __init__(self, settings: Settings, clients: Clients) -> None:
        self.settings = settings
        self._ddb = clients.aws("dynamodb", timeout=30)
        # One cache per mode, region and table: the same table name may exist locally and in AWS.
        self.cache = DayCache(settings.data_dir / "cache" / f"{settings.mode}-{settings.region}-{settings.results_table}")

    @property
    def table(self) -> str:
        return self.settings.require("results_table")

    # --- writing -------------------------------------------------------------------------------------
    def save(self, run: Run) -> SaveOutcome:
        """Write the run's items; when the table cannot be written (after the SDK's retries), keep them all in
        the local outbox instead of raising: they are written later, once each (the writes are idempotent)."""
        items = run_items(run, self.settings.result_ttl_days)
        try:
            for item in items:
                self.put_once(item)
        except StorageError as exc:
            try:
                path = self.outbox.add(items)
            except OSError as disk:
                raise StorageError(
                    f"{exc.message}; keeping the results in the outbox failed too: {disk}",
                    hint=f"free space or fix the permissions of {self.outbox.root}; {exc.hint}",
                ) from exc
            log.info("results of run %s kept in the outbox %s: %s", run.run_id, path, exc.user_text())
            return SaveOutcome(stored=False, deferred=True, outbox_path=path, error=exc.user_text())
        return SaveOutcome(stored=True, deferred=False)

    def put_once(self, item: dict[str, Any]) -> bool:
        """Write an item unless it is there already; True when this call wrote it."""
        written = self._write(item, once=True)
        # Dropped either way: a refused write may have been made by a flush that stopped before this.
        self._drop_cached_day(item)
        return written

    def _write(self, item: dict[str, Any], *, once: bool) -> bool:
        """Put an item, only if absent when `once`; True when this call wrote it."""
        condition = {"ConditionExpression": "attribute_not_exists(pk)"} if once else {}
        try:
            self._ddb.put_item(TableName=self.table, Item=_marshal(item), **condition)
        except bce.ClientError as exc:
            if once and exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise storage_error(exc, f"write to table {self.table}", "check the table name and that the local cloud or AWS is reachable") from exc
        except bce.BotoCoreError as exc:
            raise storage_error(exc, f"write to table {self.table}", "check that the local cloud or AWS is reachable") from exc
        return True

    # --- judgments and votes (never in the DAY# partitions, so the day cache of results is not touched) -----
    def save_judgment(self, record: dict[str, Any]) -> bool:
        """Store one judgment (JUDGMENT_FIELDS; the keys are made here) unless that judge has already scored that
        result with that rubric; True when this call stored it. Raises StorageError when the table refuses."""
        return self._write(judgment_item(record, self.settings.result_ttl_days), once=True)

    def save_vote(self, record: dict[str, Any]) -> None:
        """Store one vote (VOTE_FIELDS, a < b); it replaces the same voter's earlier vote on the same pair."""
        self._write(vote_item(record, self.settings.result_ttl_days), once=False)

    def judgments(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """Judgments of results created in [since, until], oldest first; every JUDGMENT_FIELDS key present."""
        return self._by_time("JUDGE", since, until, JUDGMENT_FIELDS)

    def votes(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """Votes on runs created in [since, until], oldest first; every VOTE_FIELDS key present."""
        return self._by_time("VOTE", since, until, VOTE_FIELDS)

    def judgments_for_runs(self, run_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Every judgment of these runs' results: one Query per run (its JUDGE# items), a few at once."""
        wanted = list(dict.fromkeys(run_ids))
        projection, names = _projection((*JUDGMENT_FIELDS, stack.TTL_ATTRIBUTE))

        def one(run_id: str) -> list[dict[str, Any]]:
            return list(
                self._paginate(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :judge)",
                    ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":judge": {"S": "JUDGE#"}},
                    ExpressionAttributeNames=names,
                    ProjectionExpression=projection,
                )
            )

        if len(wanted) <= 1:
            found = [one(run_id) for run_id in wanted]
        else:
            with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(wanted)), thread_name_prefix="mcv-read") as pool:
                found = list(pool.map(one, wanted))
        return _records((item for items in found for item in items), JUDGMENT_FIELDS)

    def _by_time(self, kind: str, since: datetime, until: datetime | None, fields: Sequence[str]) -> list[dict[str, Any]]:
        until = until or datetime.now(timezone.utc)
        items = [
            item
            for day in _days(since, until)
            for item in self._query_day(f"{kind}#{day}", since, until, (*fields, stack.TTL_ATTRIBUTE))
        ]
        return sorted(_records(items, fields), key=lambda r: (r["created_at"] or "", r["run_id"] or ""))

    # --- batch benchmarks (mcv_core/batch.py): one item each, changed as its jobs move --------------------------
    def save_batch(self, state: dict[str, Any]) -> None:
        """Store a batch benchmark's state (batch.BatchBench.state()), replacing the one before."""
        created = _iso(datetime.fromisoformat(state["created_at"]))
        bench_id = state["bench_id"]
        item = {
            "pk": f"BATCH#{bench_id}",
            "sk": "BATCH",
            "type": "batch",
            "bench_id": bench_id,
            "created_at": created,
            "gsi1pk": f"BATCH#{created[:10]}",
            "gsi1sk": f"{created}#{bench_id}",
            "over": bool(state.get("over")),
            "state": json.dumps(state, separators=(",", ":")),
            **_expires(created, self.settings.result_ttl_days),
        }
        self._write(item, once=False)

    def batch(self, bench_id: str) -> dict[str, Any] | None:
        """A batch benchmark's state, or None when there is none by that id."""
        try:
            found = self._ddb.get_item(
                TableName=self.table, Key={"pk": {"S": f"BATCH#{bench_id}"}, "sk": {"S": "BATCH"}}, ConsistentRead=True
            ).get("Item")
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise storage_error(exc, f"read from table {self.table}", "check that the local cloud or AWS is reachable") from exc
        return json.loads(_unmarshal(found)["state"]) if found else None

    def batches(self, days: int, now: datetime | None = None) -> list[dict[str, Any]]:
        """States of the batch benchmarks started in the last `days` days, oldest first."""
        now = now or datetime.now(timezone.utc)
        since = now - timedelta(days=days)
        items = [item for day in _days(since, now) for item in self._query_day(f"BATCH#{day}", since, now, ("state", "created_at"))]
        return [json.loads(item["state"]) for item in sorted(items, key=lambda i: i.get("created_at", ""))]

    # --- selecting results: a benchmark, a run or a time range ------------------------------------------------
    def select(
        self,
        *,
        bench_id: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        fields: Sequence[str] = RESULT_FIELDS,
    ) -> list[dict[str, Any]]:
        """Result items of a run, of a benchmark, or created in [since, until] — each given criterion applies —
        newest first, with every key of `fields` present (None where the item has none).

        A run is one Query on its partition. A benchmark is read from its start (its id carries it) one day
        partition at a time, until a day after its results holds none of them: a benchmark runs without a pause of
        a whole day, since every comparison ends within its deadline."""
        if not (bench_id or run_id or since):
            raise UsageError("choose what to select: a benchmark, a run or a time range", hint="give --bench ID, --run ID or --since 24h")
        now = datetime.now(timezone.utc)
        wanted = tuple(dict.fromkeys((*fields, "run_id", "created_at", "bench_id", stack.TTL_ATTRIBUTE)))
        if run_id:
            projection, names = _projection(wanted)
            items: list[dict[str, Any]] = list(
                self._paginate(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :result)",
                    ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":result": {"S": "RESULT#"}},
                    ExpressionAttributeNames=names,
                    ProjectionExpression=projection,
                )
            )
        elif bench_id:
            items = self._bench_items(bench_id, bench_started(bench_id), now, wanted)
        else:
            assert since is not None
            items = list(self._query_results(since, until or now, None, wanted))
        low = _iso(since) if since else ""
        high = _iso(until) if until else "~"
        chosen = [
            item
            for item in items
            if (not bench_id or item.get("bench_id") == bench_id)
            and (not run_id or item.get("run_id") == run_id)
            and low <= item.get("created_at", "") <= high
        ]
        chosen.sort(key=lambda item: (item.get("created_at", ""), item.get("run_id", ""), item.get("provider", "")), reverse=True)
        return _records(chosen, fields)

    def _bench_items(self, bench_id: str, started: datetime, now: datetime, fields: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        # A batch benchmark's results arrive when its jobs end, days apart maybe: every day is read.
        batch = self.batch(bench_id) is not None
        for index, day in enumerate(_days(started, max(now, started))):
            day_items = list(self._query_day(f"DAY#{day}", started, now, fields, bench_id=bench_id))
            # The first comparison may start just after midnight of the start day: look at two days before giving up.
            if not day_items and (found or index >= 1) and not batch:
                break
            found.extend(day_items)
        return found

    def _query_day(
        self, partition: str, since: datetime, until: datetime, fields: Sequence[str], bench_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """One by_time partition's items with created_at in [since, until] (optionally of one benchmark)."""
        if since > until:  # an empty range (DynamoDB refuses a BETWEEN whose bounds are reversed)
            return
        hash_key, range_key = stack.INDEXES[stack.TIME_INDEX]
        projection, names = _projection(fields)
        values = {":h": {"S": partition}, ":lo": {"S": _iso(since)}, ":hi": {"S": _iso(until) + "~"}}
        request: dict[str, Any] = {}
        if bench_id is not None:
            names = {**names, "#bench": "bench_id"}
            values[":bench"] = {"S": bench_id}
            request["FilterExpression"] = "#bench = :bench"
        yield from self._paginate(
            TableName=self.table,
            IndexName=stack.TIME_INDEX,
            KeyConditionExpression="#h = :h AND #r BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#h": hash_key, "#r": range_key, **names},
            ExpressionAttributeValues=values,
            ProjectionExpression=projection,
            **request,
        )

    def _drop_cached_day(self, item: dict[str, Any]) -> None:
        # A late write (from the outbox) into a day already cached as complete. Dropped after the write, not
        # before: a load that cached the day between a drop and the write would keep it without this item.
        if isinstance(item.get("created_at"), str):
            self.cache.drop(item["created_at"][:10])

    # --- the outbox (runs whose results wait for the table) --------------------------------------------------
    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.settings.data_dir / "outbox" / self.table)

    def outbox_waiting(self) -> bool:
        """True when runs wait in the outbox (a directory listing). No table set: no outbox of it."""
        return bool(self.settings.results_table) and self.outbox.has_pending()

    def flush_outbox(self) -> FlushResult:
        """Write the runs waiting in the outbox, oldest first; stops at the first storage failure."""
        if not self.settings.results_table:  # the missing setting is reported where the table is needed
            return FlushResult()
        return self.outbox.flush(self.put_once)

    # --- reading -------------------------------------------------------------------------------------
    def results(
        self,
        since: datetime,
        until: datetime | None = None,
        providers: Sequence[str] | None = None,
        fields: Sequence[str] = RESULT_FIELDS,
    ) -> list[dict[str, Any]]:
        """Result items created in [since, until], newest first, reading only `fields`."""
        until = until or datetime.now(timezone.utc)
        items = list(self._query_results(since, until, providers, fields))
        items.sort(key=lambda item: (item.get("created_at", ""), item.get("run_id", ""), item.get("provider", "")), reverse=True)
        return items

    def load(
        self,
        since: datetime,
        until: datetime | None = None,
        fields: Sequence[str] = ANALYTIC_FIELDS,
        on_progress: Callable[[int, int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Result items created in [since, until] for the analytics views, one day partition at a time.

        Past days are complete (items are never changed once written), so their partitions are kept in a
        local cache and read from DynamoDB once; today's is always read. `on_progress(days_done, days, items)`
        is called after each day. Items past their TTL are left out, as DynamoDB may still return them.
        """
        until = until or datetime.now(timezone.utc)
        low, high = _iso(since), _iso(until)
        now = datetime.now(timezone.utc)
        expired_before = int(now.timestamp())
        days = _days(since, until)
        items: list[dict[str, Any]] = []
        for done, day in enumerate(days, start=1):
            day_items = self.cache.get(day, fields)
            if day_items is None:
                day_items = list(self._query_partition(stack.TIME_INDEX, f"DAY#{day}", fields))
                if now >= datetime.fromisoformat(day).replace(tzinfo=timezone.utc) + timedelta(days=1) + SEAL_AFTER:
                    self.cache.put(day, fields, day_items)
            items.extend(
                item
                for item in day_items
                if low <= item.get("created_at", "") <= high and item.get(stack.TTL_ATTRIBUTE, expired_before + 1) > expired_before
            )
            if on_progress is not None:
                on_progress(done, len(days), len(items))
        return items

    def get_results(self, keys: Sequence[tuple[str, str]], fields: Sequence[str] = RESULT_FIELDS) -> list[dict[str, Any]]:
        """Result items by (run_id, provider), with BatchGetItem: a read per item, whatever the table's size."""
        projection, names = _projection(fields)
        wanted = [{"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": f"RESULT#{provider}"}} for run_id, provider in dict.fromkeys(keys)]
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 100):  # BatchGetItem takes at most 100 keys
            request: dict[str, Any] = {
                self.table: {"Keys": wanted[start : start + 100], "ProjectionExpression": projection, "ExpressionAttributeNames": names}
            }
            while request:
                try:
                    page = self._ddb.batch_get_item(RequestItems=request)
                except (bce.BotoCoreError, bce.ClientError) as exc:
                    raise storage_error(exc, f"read of table {self.table}", "check the table and that it is reachable") from exc
                found.extend(_unmarshal(item) for item in page.get("Responses", {}).get(self.table, []))
                request = page.get("UnprocessedKeys") or {}
        return found

    def run(self, run_id: str) -> list[dict[str, Any]]:
        """Every item of one run (its run item and its results)."""
        return list(
            self._paginate(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
            )
        )

    def _query_results(
        self, since: datetime, until: datetime, providers: Sequence[str] | None, fields: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        low, high = _iso(since), _iso(until) + "~"  # "~" sorts after "#", so the last instant is included
        projection, names = _projection(fields)
        if providers:
            index, (hash_key, range_key) = stack.PROVIDER_INDEX, stack.INDEXES[stack.PROVIDER_INDEX]
            partitions: Iterable[str] = [f"PROVIDER#{p}" for p in providers]
        else:
            index, (hash_key, range_key) = stack.TIME_INDEX, stack.INDEXES[stack.TIME_INDEX]
            partitions = [f"DAY#{day}" for day in _days(since, until)]
        for partition in partitions:
            yield from self._paginate(
                TableName=self.table,
                IndexName=index,
                KeyConditionExpression="#h = :h AND #r BETWEEN :lo AND :hi",
                ExpressionAttributeNames={"#h": hash_key, "#r": range_key, **names},
                ExpressionAttributeValues={":h": {"S": partition}, ":lo": {"S": low}, ":hi": {"S": high}},
                ProjectionExpression=projection,
                ScanIndexForward=False,
            )

    def _query_partition(self, index: str, partition: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        projection, names = _projection(fields)
        hash_key = stack.INDEXES[index][0]
        yield from self._paginate(
            TableName=self.table,
            IndexName=index,
            KeyConditionExpression="#h = :h",
            ExpressionAttributeNames={"#h": hash_key, **names},
            ExpressionAttributeValues={":h": {"S": partition}},
            ProjectionExpression=projection,
        )

    def _paginate(self, **request: Any) -> Iterator[dict[str, Any]]:
        while True:
            try:
                page = self._ddb.query(**request)
            except (bce.BotoCoreError, bce.ClientError) as exc:
                raise storage_error(exc, f"query of table {self.table}", "check the table and its indexes") from exc
            for item in page.get("Items", []):
                yield _unmarshal(item)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last


def _records(items: Iterable[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Items as records: exactly `fields`, None where an item has none; items past their TTL left out (DynamoDB
    deletes them a while after they expire, and may still return them)."""
    now = int(datetime.now(timezone.utc).timestamp())
    records = [
        {name: item.get(name) for name in fields}
        for item in items
        if not isinstance(item.get(stack.TTL_ATTRIBUTE), int) or item[stack.TTL_ATTRIBUTE] > now
    ]
    if "mode" in fields:  # results stored before batch benchmarks existed were all calls
        for record in records:
            record["mode"] = record["mode"] or "online"
    return records


def _projection(fields: Sequence[str]) -> tuple[str, dict[str, str]]:
    # Every name goes through a placeholder: several (status, source, ...) are DynamoDB reserved words.
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    return ", ".join(names), names


def _days(since: datetime, until: datetime) -> list[str]:
    start = since.astimezone(timezone.utc).date()
    end = until.astimezone(timezone.utc).date()
    days = []
    while start <= end:
        days.append(start.isoformat())
        start += timedelta(days=1)
    return days


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`24h`, `7d`, `30m`, `2w` or an ISO date/time -> an aware UTC datetime."""
    now = now or datetime.now(timezone.utc)
    text = text.strip()
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text and text[-1] in units and text[:-1].isdecimal() and text[:-1].isascii():
        try:
            return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
        except (OverflowError, ValueError):
            raise UsageError(f"--since {text!r} reaches too far back", hint="use e.g. 24h, 7d or 2026-11-01") from None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r} is neither a duration nor a date", hint="use e.g. 24h, 7d or 2026-11-01") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
