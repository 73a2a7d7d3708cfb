"""The batch engine behind the emulated control planes (bedrock_batch.py, azure_batch.py, sagemaker_transform.py):
jobs that read their records, answer each through the same models as online calls (the stand-ins; SageMaker's
own handler), and write their outputs, moving through their service's own states.

A job is a dict in the service's own terms (its control plane shapes the responses) plus what the engine needs:
`service`, `status`, the record counts, `stop` (asked to stop). One worker thread runs the jobs in the order
they were created, one record at a time (the stand-ins' real compute); control-plane requests only read and
mark jobs. The jobs are kept in `<root>/jobs.json` after every change of state, so a restart of the local cloud
finds them: a job that was in progress starts again from its first record (outputs are written only at its end,
as the services do, so nothing is written twice), one that was stopping is stopped.

Faults (POST /_mcv/batch-faults, per service): `fail_every` N makes every N-th record fail with the service's
error, `fail_job` fails the next job at validation, `record_delay_s` slows every record (a slow job).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from ..state import write_json_atomic

log = logging.getLogger("mcv_core.local.emulator")

JOBS_FILE = "jobs.json"


@dataclass
class BatchFault:
    fail_every: int = 0  # every N-th record of a job fails (0: none)
    fail_job: bool = False  # the next job fails at validation (then the fault is spent)
    record_delay_s: float = 0.0  # each record takes this much longer

    def __post_init__(self) -> None:
        if self.fail_every < 0 or self.record_delay_s < 0 or self.record_delay_s > 60:
            raise ValueError("fail_every must be 0 or more and record_delay_s 0 to 60 seconds")


class Runner(Protocol):
    """A service's side of the engine: how its jobs validate, answer their records and write their outputs."""

    def validate(self, job: dict[str, Any]) -> list[Any]:
        """The job's records, read from its input; raises JobFailed with the service's message."""

    def answer(self, job: dict[str, Any], record: Any, failed: bool) -> tuple[bool, Any]:
        """(ok, output line) for one record; `failed`: a fault says this record fails."""

    def finish(self, job: dict[str, Any], outputs: list[tuple[bool, Any]]) -> dict[str, Any]:
        """Write the job's outputs (all of its records answered so far) where its service puts them; returns
        what the job's description gains (Azure: its output and error file ids; a `message`). `job` is read
        afresh: its `stop` says whether a client asked it to stop."""

    def states(self) -> "States": ...


@dataclass(frozen=True)
class States:
    """A service's status words for each step of a job's life."""

    submitted: str
    validating: str
    in_progress: str
    finalizing: str | None  # Azure's finalizing; Bedrock has none
    completed: str
    partially: str | None  # Bedrock's PartiallyCompleted; Azure completes with failed requests counted
    failed: str
    stopping: str
    stopped: str
    fails_on_record_error: bool = False  # SageMaker: a record that fails fails the job (what was answered is kept)

    @property
    def final(self) -> tuple[str, ...]:
        return tuple(s for s in (self.completed, self.partially, self.failed, self.stopped) if s)


class JobFailed(Exception):
    """A job fails as a whole (its input is not valid, a fault): the message is the service's."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BatchJobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runners: dict[str, Runner] = {}
        self.faults: dict[str, BatchFault] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.jobs: dict[str, dict[str, Any]] = self._read()
        self._thread: threading.Thread | None = None

    # --- the store
    def _read(self) -> dict[str, dict[str, Any]]:
        import json

        try:
            jobs = json.loads((self.root / JOBS_FILE).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("batch jobs not restored from %s: %s", self.root / JOBS_FILE, exc)
            return {}
        return {str(k): v for k, v in jobs.items()} if isinstance(jobs, dict) else {}

    def _save(self) -> None:
        with self._lock:
            snapshot = {k: dict(v) for k, v in self.jobs.items()}
        write_json_atomic(self.root / JOBS_FILE, snapshot, mode=0o600)

    def register(self, service: str, runner: Runner) -> None:
        self.runners[service] = runner

    def add(self, job: dict[str, Any]) -> dict[str, Any]:
        """A new job (its id in `id`), in its service's submitted state; the worker takes it up."""
        states = self.runners[job["service"]].states()
        job.update(status=states.submitted, total=0, processed=0, succeeded=0, errored=0, stop=False, message=None,
                   submitted_at=now_iso(), updated_at=now_iso(), started_at=None, ended_at=None)  # fmt: skip
        with self._lock:
            self.jobs[job["id"]] = job
        self._save()
        self._wake.set()
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self.jobs.get(job_id)
            return dict(job) if job is not None else None

    def find(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(job) for job in self.jobs.values() if match(job)]

    def stop(self, job_id: str) -> dict[str, Any] | None:
        """Ask a job to stop: one not yet running stops at once, a running one after its current record."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            states = self.runners[job["service"]].states()
            if job["status"] in states.final:
                return dict(job)
            job["stop"] = True
            job["status"] = states.stopping
            job["updated_at"] = now_iso()
        self._save()
        self._wake.set()
        return self.get(job_id)

    def _set(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self.jobs[job_id].update(changes, updated_at=now_iso())
        self._save()

    # --- the worker
    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="batch-jobs", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for runner in self.runners.values():
            close = getattr(runner, "close", None)  # a runner that holds processes (SageMaker's instances)
            if close is not None:
                close()

    def _next(self) -> dict[str, Any] | None:
        with self._lock:
            for job in sorted(self.jobs.values(), key=lambda j: j["submitted_at"]):
                states = self.runners[job["service"]].states() if job["service"] in self.runners else None
                if states is not None and job["status"] not in states.final:
                    return dict(job)
        return None

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self._next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception:  # a bug must not stop the other jobs; the job fails and says so
                log.exception("batch job %s failed in the local cloud", job["id"])
                states = self.runners[job["service"]].states()
                self._set(job["id"], status=states.failed, message="the local cloud's batch engine failed: see its log", ended_at=now_iso())

    def _stop_asked(self, job_id: str) -> bool:
        with self._lock:
            return bool(self.jobs[job_id].get("stop")) or self._stopping.is_set()

    def _run(self, job: dict[str, Any]) -> None:
        runner = self.runners[job["service"]]
        states = runner.states()
        job_id = job["id"]
        if self._stop_asked(job_id):
            if not self._stopping.is_set():
                written = runner.finish(self.get(job_id) or job, [])
                self._set(job_id, status=states.stopped, ended_at=now_iso(), **written)
            return
        self._set(job_id, status=states.validating, started_at=now_iso())
        fault = self.faults.get(job["service"], BatchFault())
        try:
            if fault.fail_job:
                self.faults[job["service"]] = BatchFault(fault.fail_every, False, fault.record_delay_s)
                raise JobFailed("An internal error occurred while processing the batch job. Please retry the job.")
            records = runner.validate(job)
        except JobFailed as exc:
            self._set(job_id, status=states.failed, message=str(exc), ended_at=now_iso())
            return
        self._set(job_id, status=states.in_progress, total=len(records), processed=0, succeeded=0, errored=0)
        outputs: list[tuple[bool, Any]] = []
        for index, record in enumerate(records):
            if self._stop_asked(job_id):
                break
            if fault.record_delay_s:
                time.sleep(fault.record_delay_s)
            failed = fault.fail_every > 0 and (index + 1) % fault.fail_every == 0
            ok, line = runner.answer(job, record, failed)
            outputs.append((ok, line))
            with self._lock:
                current = self.jobs[job_id]
                current["processed"] += 1
                current["succeeded" if ok else "errored"] += 1
        if self._stopping.is_set() and not self._stop_asked_by_client(job_id):
            return  # the local cloud is stopping: the job starts again from its first record at the next start
        if states.finalizing:
            self._set(job_id, status=states.finalizing)
        written = runner.finish(self.get(job_id) or job, outputs)
        stopped = self._stop_asked_by_client(job_id)
        errored = sum(1 for ok, _ in outputs if not ok)
        if stopped:
            status = states.stopped
        elif errored and states.partially:
            status = states.partially
        elif errored and states.fails_on_record_error:
            status = states.failed
        else:
            status = states.completed
        self._set(job_id, status=status, ended_at=now_iso(), **written)

    def _stop_asked_by_client(self, job_id: str) -> bool:
        with self._lock:
            return bool(self.jobs[job_id].get("stop"))

    def set_fault(self, service: str, fault: BatchFault) -> None:
        self.faults[service] = fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def describe_faults(self) -> dict[str, Any]:
        return {service: asdict(fault) for service, fault in self.faults.items()}

    def status(self) -> dict[str, Any]:
        with self._lock:
            counts: dict[str, int] = {}
            for job in self.jobs.values():
                key = f"{job['service']}:{job['status']}"
                counts[key] = counts.get(key, 0) + 1
        return {"jobs": counts, "faults": self.describe_faults()}
