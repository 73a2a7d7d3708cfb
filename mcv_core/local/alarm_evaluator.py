"""The local cloud's alarm evaluation: what CloudWatch does to alarms, which moto does not.

moto stores alarms (PutMetricAlarm) and metric data (PutMetricData) but never evaluates an alarm: its alarms
stay in the state they were put in. This thread does CloudWatch's part. After each step of CloudWatch's schedule
(every 10 s while an alarm has a 10 or 30 s period, else every minute; a moment after the boundary, so that the
publisher's last batch is in), it reads every metric alarm (`describe_alarms`), reads the alarm's metric for its
evaluation range from moto (`get_metric_data`, the alarm's exact dimension set), decides the state with
`alarm_eval.evaluate` (statistic, period, evaluation periods, datapoints to alarm, missing data), and on a change
calls `set_alarm_state` with CloudWatch's reason. An error is logged and never stops the thread or the daemon.

Samples. moto returns statistics, not raw values. For a statistic (Average, Sum, ...) the per-period
SampleCount, Sum, Minimum and Maximum give it exactly. A percentile needs values: the evaluator asks for 1 s
periods, where a second holding one, two or three samples gives them exactly (its minimum, its maximum, and the
sum of the rest); a second holding more gives its minimum, maximum and the others at their mean (an approximation,
as CloudWatch's own percentiles are).

New alarms. moto starts an alarm in OK ("Unchecked: Initial alarm creation"), where CloudWatch starts it in
INSUFFICIENT_DATA: such an alarm is set to INSUFFICIENT_DATA before its first evaluation (provision.py does so
too, right after putting it; this catches alarms put by a replayed recording or by anyone else).

History. moto does not implement DescribeAlarmHistory: each change is also kept in
`local/alarms/history.json` (the last `HISTORY_KEPT` per alarm), which `alarms.status` reads in local mode.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import boto3
from botocore.config import Config

from .. import alarm_eval
from ..alarm_eval import AlarmSpec, Sample, StatisticSet
from .state import Connection, local_dir, write_json_atomic

log = logging.getLogger(__name__)

MOTO_INITIAL_REASON = "Unchecked: Initial alarm creation"  # moto's (and CloudWatch's) reason of a new alarm
AFTER_BOUNDARY_S = 2.0  # evaluate this long after a period boundary: the publisher lingers 1 s before sending
HISTORY_KEPT = 20
_STATS = ("SampleCount", "Sum", "Minimum", "Maximum")


def history_path(data_dir: Path) -> Path:
    return local_dir(data_dir) / "alarms" / "history.json"


def read_history(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Alarm name -> its state changes, oldest first ({"timestamp", "from", "to", "reason"})."""
    try:
        data = json.loads(history_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def next_tick(now: float, step_s: float) -> float:
    """When to evaluate next: the next boundary of `step_s` after `now`, plus AFTER_BOUNDARY_S."""
    return math.floor((now - AFTER_BOUNDARY_S) / step_s) * step_s + step_s + AFTER_BOUNDARY_S


def samples_from_sets(sets: dict[datetime, dict[str, float]], raw_values: bool) -> list[Sample]:
    """Samples from per-period statistic sets ({timestamp: {SampleCount, Sum, Minimum, Maximum}}). With
    `raw_values` (1 s periods, for percentiles) each set becomes values: exact up to three samples, else its
    minimum, its maximum and the rest at their mean."""
    out: list[Sample] = []
    for at, stats in sets.items():
        count = stats.get("SampleCount") or 0.0
        if count <= 0 or any(stats.get(s) is None for s in _STATS):
            continue
        total, low, high = stats["Sum"], stats["Minimum"], stats["Maximum"]
        if not raw_values:
            out.append(Sample(at, statistic_set=StatisticSet(count, total, low, high)))
        elif count == 1:
            out.append(Sample(at, low))
        elif count == 2:
            out += [Sample(at, low), Sample(at, high)]
        else:
            rest = count - 2
            out += [Sample(at, low), Sample(at, high), Sample(at, (total - low - high) / rest, rest)]
    return out


class AlarmEvaluator:
    """A daemon thread evaluating every metric alarm of the local cloud's CloudWatch on CloudWatch's schedule."""

    def __init__(self, conn: Connection, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.data_dir = Path(data_dir)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._step_s = 10.0
        self.evaluations = 0
        self.changes = 0
        self.errors = 0
        self.alarms = 0
        self.last_error = ""
        self.last_run = ""

    # --- life
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alarm-evaluator", daemon=True)
        self._thread.start()
        log.info("alarm evaluator started")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running(),
            "alarms": self.alarms,
            "evaluations": self.evaluations,
            "state_changes": self.changes,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_run": self.last_run,
            "every_s": self._step_s,
        }

    def _loop(self) -> None:
        while True:
            now = self._clock()
            if self._stop.wait(max(0.0, next_tick(now, self._step_s) - now)):
                return
            try:
                self.evaluate_all()
            except Exception as exc:  # never let the thread die: CloudWatch down, moto restarting, a defect
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("alarm evaluation failed: %s", self.last_error)

    # --- evaluation
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client(
                "cloudwatch",
                endpoint_url=self.conn.moto_url,
                region_name=self.conn.region,
                aws_access_key_id=self.conn.access_key_id,
                aws_secret_access_key=self.conn.secret_access_key,
                config=Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=5, read_timeout=30),
            )
        return self._client

    def evaluate_all(self, now: float | None = None) -> int:
        """Evaluate every metric alarm once at `now` (default: the clock); returns the number of state changes.
        One alarm's failure is logged and does not stop the others."""
        with self._lock:
            at = self._clock() if now is None else now
            cloudwatch = self.client()
            items: list[dict[str, Any]] = []
            token = None
            while True:
                page = cloudwatch.describe_alarms(AlarmTypes=["MetricAlarm"], **({"NextToken": token} if token else {}))
                items.extend(page.get("MetricAlarms") or ())
                token = page.get("NextToken")
                if not token:
                    break
            self.alarms = len(items)
            periods = [i.get("Period") for i in items]
            self._step_s = 10.0 if any(isinstance(p, int) and p < 60 for p in periods) else 60.0
            changed = 0
            for item in items:
                try:
                    changed += self._evaluate(cloudwatch, item, at)
                except Exception as exc:  # one alarm's trouble is not the others'
                    self.errors += 1
                    self.last_error = f"{item.get('AlarmName')}: {type(exc).__name__}: {exc}"[:300]
                    log.warning("alarm %s not evaluated: %s", item.get("AlarmName"), self.last_error)
            self.evaluations += 1
            self.last_run = datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="seconds")
            return changed

    def _evaluate(self, cloudwatch: Any, item: dict[str, Any], now: float) -> int:
        name = item["AlarmName"]
        state, reason = item.get("StateValue", alarm_eval.INSUFFICIENT_DATA), item.get("StateReason", "")
        if state == alarm_eval.OK and reason == MOTO_INITIAL_REASON:
            # moto's new alarm: CloudWatch's starts in INSUFFICIENT_DATA.
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=alarm_eval.INSUFFICIENT_DATA, StateReason=MOTO_INITIAL_REASON)
            state = alarm_eval.INSUFFICIENT_DATA
        try:
            spec = AlarmSpec.from_describe(item)
        except (ValueError, KeyError) as exc:
            log.debug("alarm %s is not evaluated here: %s", name, exc)
            return 0
        samples = self.samples(cloudwatch, spec, now)
        result = alarm_eval.evaluate(spec, samples, now, state, reason)
        if result.state == state:
            return 0
        data = {
            "version": "1.0",
            "queryDate": datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "statistic": spec.stat,
            "period": spec.period_s,
            "recentDatapoints": [d.value for d in result.evaluated if d.value is not None],
            "threshold": spec.threshold,
            "evaluatedDatapoints": [
                {"timestamp": d.timestamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), **({"value": d.value} if d.value is not None else {})}
                for d in reversed(result.evaluated)
            ],
        }
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=result.state, StateReason=result.reason[:1023], StateReasonData=json.dumps(data))
        self.changes += 1
        self._remember(name, state, result.state, result.reason, now)
        log.info("alarm %s: %s -> %s (%s)", name, state, result.state, result.reason)
        return 1

    def samples(self, cloudwatch: Any, spec: AlarmSpec, now: float) -> list[Sample]:
        """The metric's samples over the alarm's evaluation range, from moto (exact dimension set)."""
        starts = alarm_eval.period_starts(spec, now)
        start = datetime.fromtimestamp(starts[0], tz=timezone.utc)
        end = datetime.fromtimestamp(starts[-1] + spec.period_s, tz=timezone.utc)
        raw = spec.extended_statistic is not None
        period = 1 if raw else spec.period_s
        metric = {
            "Namespace": spec.namespace,
            "MetricName": spec.metric_name,
            # In the alarm's order: moto's exact match of a query's dimensions depends on their order.
            "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions.items()],
        }
        queries = [
            {"Id": f"s{i}", "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}, "ReturnData": True}
            for i, stat in enumerate(_STATS)
        ]
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        )
        sets: dict[datetime, dict[str, float]] = {}
        for result in answer.get("MetricDataResults") or ():
            stat = _STATS[int(result["Id"][1:])]
            for at, value in zip(result.get("Timestamps") or (), result.get("Values") or ()):
                if at.tzinfo is None:
                    at = at.replace(tzinfo=timezone.utc)
                if start <= at < end:  # moto also answers for a period starting at EndTime
                    sets.setdefault(at, {})[stat] = value
        return samples_from_sets(sets, raw)

    def _remember(self, name: str, old: str, new: str, reason: str, now: float) -> None:
        path = history_path(self.data_dir)
        history = read_history(self.data_dir)
        changes = list(history.get(name) or ())
        changes.append(
            {
                "timestamp": datetime.fromtimestamp(now, tz=timezone.utc).isoformat(timespec="seconds"),
                "from": old,
                "to": new,
                "reason": reason,
            }
        )
        history[name] = changes[-HISTORY_KEPT:]
        try:
            write_json_atomic(path, history)
        except OSError as exc:
            log.warning("alarm history not written (%s): %s", path, exc)
