"""How fast an alarm answers a fault: throttling injected into one target, to its error-rate alarm in ALARM and back.

    python -m bench.alarm_response [--quick] [--rounds N] [--period 10|30|60] [--data-dir DIR] [--json]

Runs on a local cloud of its own (loopback only; a temporary data folder unless given, stopped at the end), its
alarms on the app's own metrics put with a short period (`MCV_LOCAL_ALARM_PERIOD_S`, 10 s by default). A thread
compares two default targets, each on a service of its own, one after another for the whole run: bedrock, which
the faults hit, and azure_openai, which stays healthy. Each round waits until both error-rate alarms are OK,
injects throttling into Bedrock (`POST /_mcv/faults`, every call), times until `alarms.status` shows the bedrock
alarm in ALARM, clears the fault, and times until it is OK again. Throughout, the healthy target's alarm is read
too: it must never leave OK. The rounds begin their faults at points spread over a period.

Figures per round, in seconds and in evaluation periods counted from the end of the period the fault began in
(the first period the fault fills): the alarm is 2 of 3 periods, so on an exact schedule ALARM comes at the end
of the second full period after it, plus the evaluator's lag (2 s after each boundary) and the time to read.

Target (issue 15): ALARM within two evaluation periods, that is `periods_to_alarm` <= 2 at the median, the
healthy alarm never in ALARM; back to OK reported.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

FAULTY, HEALTHY = "bedrock", "azure_openai"
TARGET_PERIODS = 2.0
POLL_S = 0.5


def error_rate_alarm(target: str) -> str:
    from mcv_core import alarms

    return alarms.alarm_name("target_error_rate", target)


def period_end(moment: float, period_s: int) -> float:
    """The end of the period `moment` (epoch seconds) falls in."""
    return (math.floor(moment / period_s) + 1) * period_s


def wait_until(condition: Callable[[], bool], timeout_s: float) -> float | None:
    """Seconds until `condition` held, polled every POLL_S, or None after `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if condition():
            return time.monotonic() - start
        time.sleep(POLL_S)
    return None


class Comparisons:
    """Comparisons of the faulty and the healthy target, one after another, in a thread, until stopped."""

    def __init__(self, workbench: Any, image: Any) -> None:
        self.workbench, self.image = workbench, image
        self.stop = threading.Event()
        self.count = 0
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._loop, name="comparisons", daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.workbench.compare(self.image, [FAULTY, HEALTHY], source="cli")
                self.count += 1
            except Exception as exc:  # noqa: BLE001 - reported in the document
                self.failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(1)

    def __enter__(self) -> Comparisons:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(120)


def one_round(workbench: Any, conn: Any, period_s: int, phase_s: float, healthy_states: list[str]) -> dict[str, Any]:
    """One fault, injected `phase_s` into a period (rounds spread it over the period: where in its period a fault
    begins decides how much of that period it fills)."""
    from mcv_core import alarms
    from mcv_core.local import control

    def states() -> dict[str, str]:
        now = {a.name: a.state for a in alarms.current(workbench)}
        healthy_states.append(now.get(error_rate_alarm(HEALTHY), ""))
        return now

    faulty = error_rate_alarm(FAULTY)
    settle = wait_until(lambda: states().get(faulty) == "OK", 12 * period_s)
    time.sleep((phase_s - time.time() % period_s) % period_s)
    began = time.time()
    control.emulator_admin(conn, "POST", "/_mcv/faults", json={FAULTY: [{"kind": "throttle", "count": -1}]})
    try:
        to_alarm = wait_until(lambda: states().get(faulty) == "ALARM", 12 * period_s)
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    cleared = time.time()
    to_ok = wait_until(lambda: states().get(faulty) == "OK", 12 * period_s)
    return {
        "settled_s": None if settle is None else round(settle, 1),
        "fault_within_its_period_s": round(began % period_s, 1),
        "to_alarm_s": None if to_alarm is None else round(to_alarm, 1),
        "periods_to_alarm": None
        if to_alarm is None
        else round((began + to_alarm - period_end(began, period_s)) / period_s, 2),
        "to_ok_s": None if to_ok is None else round(to_ok, 1),
        "periods_to_ok": None if to_ok is None else round((cleared + to_ok - period_end(cleared, period_s)) / period_s, 2),
    }


def run(quick: bool = False, rounds: int | None = None, period_s: int = 10, data_dir: Path | None = None,
        keep: bool = False) -> dict[str, Any]:
    """The rounds on a local cloud of its own, as a bench document."""
    from bench import common

    rounds = rounds or (1 if quick else 3)
    load_at_start = os.getloadavg()
    with common.own_local_cloud("mcv-bench-alarms-", data_dir, keep, MCV_LOCAL_ALARM_PERIOD_S=str(period_s)) as settings:
        from mcv_core import targets
        from mcv_core.local import control
        from mcv_core.workbench import Workbench

        workbench = Workbench(settings, catalogue=targets.defaults(settings))
        conn = control.running(settings)
        image = workbench.load_image(common.photo_jpeg(1024, 768), "photo.jpg")
        healthy: list[str] = []
        with Comparisons(workbench, image) as comparisons:
            phases = [(i + 0.5) * period_s / rounds for i in range(rounds)]
            done = [one_round(workbench, conn, period_s, phase, healthy) for phase in phases]
    periods = [r["periods_to_alarm"] for r in done if r["periods_to_alarm"] is not None]
    median = statistics.median(periods) if periods else None
    healthy_alarmed = healthy.count("ALARM")
    return {
        "name": "alarm_response",
        "target": "a target's error-rate alarm in ALARM within two evaluation periods of the fault (median), "
                  "the healthy target's never",
        "baseline": {"periods": TARGET_PERIODS},
        "ours": {"median_periods_to_alarm": median, "rounds": len(done), "alarmed": len(periods),
                 "healthy_reads_in_alarm": healthy_alarmed},
        "ratio": None if median is None else round(median / TARGET_PERIODS, 3),
        "met": median is not None and median <= TARGET_PERIODS and len(periods) == len(done) and not healthy_alarmed,
        "details": {
            "figure_compared": "periods to ALARM, from the end of the period the fault began in, over the target's 2",
            "period_s": period_s,
            "rounds": done,
            "comparisons": comparisons.count,
            "comparison_failures": comparisons.failures[:5],
            "healthy_reads": len(healthy),
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    from bench import common

    details = result["details"]
    rows = [
        (i + 1, r["fault_within_its_period_s"], r["to_alarm_s"], r["periods_to_alarm"], r["to_ok_s"], r["periods_to_ok"])
        for i, r in enumerate(details["rounds"])
    ]
    lines = [
        f"period {details['period_s']} s, {details['comparisons']} comparisons of {FAULTY} and {HEALTHY}",
        common.table(("round", "fault at s", "to ALARM s", "periods", "to OK s", "periods"), rows),
        f"healthy target's alarm read {details['healthy_reads']} times, "
        f"in ALARM {result['ours']['healthy_reads_in_alarm']}",
        f"target {'met' if result['met'] else 'NOT met'}: {result['target']}",
        common.environment_line(result["environment"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench import common

    parser = argparse.ArgumentParser(prog="python -m bench.alarm_response", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round: a quick look")
    parser.add_argument("--rounds", type=int, help="fault rounds (default 3)")
    parser.add_argument("--period", type=int, default=10, choices=(10, 30, 60), help="the alarms' period, s")
    common.local_cloud_arguments(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.quick, args.rounds, args.period, args.data_dir, args.keep)
    path = common.write_result(result)
    print(json.dumps(result, indent=2) if args.json else render(result) + f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
