"""What is deployed and whether each part is healthy, locally and in the cloud alike.

Outputs come from `terraform output -json` (terraform/aws and terraform/azure) when terraform and a state are
there, else from the local cloud's outputs (the same shape), else from the settings. Health checks run at once,
each with its own timeout; each says what it checked, what it found, how long it took, and the fix when it fails.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import botocore.exceptions as bce

from . import alarms, stack
from . import formatting as fmt
from .config import Settings
from .errors import CheckFailed as Failed
from .errors import MCVError
from .local.state import outputs_dir
from .workbench import Workbench

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
TERRAFORM_DIRS = {"aws": REPO / "terraform" / "aws", "azure": REPO / "terraform" / "azure"}
CHECK_TIMEOUT_S = 10.0
STATUSES = ("ok", "warn", "fail")


# --- outputs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outputs:
    """Outputs per cloud, each {name: {"value", "sensitive", "type"}}, and where they came from."""

    source: str  # "terraform", "local cloud" or "settings"
    aws: dict[str, dict[str, Any]]
    azure: dict[str, dict[str, Any]]
    notes: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, str]]:
        """For display: sensitive values masked."""
        return [
            {
                "cloud": cloud,
                "output": name,
                "value": "(sensitive)" if output.get("sensitive") else _display(output.get("value")),
            }
            for cloud, outputs in (("AWS", self.aws), ("Azure", self.azure))
            for name, output in sorted(outputs.items())
        ]


def _display(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _output(value: Any, sensitive: bool = False) -> dict[str, Any]:
    return {"sensitive": sensitive, "type": "string", "value": value}


def terraform_outputs(directory: Path, timeout: float = 60.0) -> dict[str, dict[str, Any]] | None:
    """`terraform output -json` in `directory`, or None when terraform or an initialised state is missing."""
    binary = shutil.which("terraform")
    if binary is None or not (directory / ".terraform").is_dir():
        return None
    done = subprocess.run(
        [binary, f"-chdir={directory}", "output", "-json"], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        return None
    outputs = json.loads(done.stdout or "{}")
    return outputs or None


def read_outputs(settings: Settings) -> Outputs:
    if settings.is_local:
        folder = outputs_dir(settings.data_dir)
        try:
            aws = json.loads((folder / "aws.json").read_text())
            azure = json.loads((folder / "azure.json").read_text())
        except FileNotFoundError:
            return Outputs("local cloud", {}, {}, ("the local cloud has not written its outputs yet: start it",))
        return Outputs("local cloud", aws, azure)
    aws_tf = terraform_outputs(TERRAFORM_DIRS["aws"])
    azure_tf = terraform_outputs(TERRAFORM_DIRS["azure"])
    if aws_tf or azure_tf:
        return Outputs("terraform", aws_tf or {}, azure_tf or {})
    aws = {
        "region": _output(settings.region),
        "upload_bucket_name": _output(settings.upload_bucket),
        "results_table_name": _output(settings.results_table),
        "sagemaker_endpoint_name": _output(settings.sagemaker_endpoint),
        "lambda_function_name": _output(settings.lambda_function),
        "bedrock_model_id": _output(settings.bedrock_model_id),
    }
    azure = {"azure_openai_endpoint": _output(settings.azure_endpoint), "azure_openai_deployment": _output(settings.azure_deployment)}
    note = "no terraform state here (terraform/aws/.terraform): the names come from the settings"
    return Outputs("settings", {k: v for k, v in aws.items() if v["value"]}, {k: v for k, v in azure.items() if v["value"]}, (note,))


# --- health checks -------------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    name: str
    title: str
    status: str  # ok, warn or fail
    checked: str  # what was looked at
    detail: str  # what was found
    fix: str | None = None
    duration_ms: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    checked: str
    run: Callable[["Context"], tuple[str, dict[str, Any]]]  # returns (detail, facts); raises Failed
    needs: tuple[str, ...] = ()  # checks that must pass first (the local cloud's parts)
    local_only: bool = False


@dataclass
class Context:
    workbench: Workbench
    timeout: float

    @property
    def settings(self) -> Settings:
        return self.workbench.settings

    def aws(self, service: str) -> Any:
        # One attempt: a health check reports what it sees now, it does not retry it away.
        return self.workbench.clients.aws(service, timeout=self.timeout, max_attempts=1)

    def reapply(self, what: str) -> str:
        if self.settings.is_local:
            return f"restore {what}: `python -m mcv_core local provision` re-applies the local stack's settings"
        return f"restore {what}: `terraform -chdir=terraform/aws apply` re-applies the stack's settings"


def _code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, bce.ClientError) else type(exc).__name__


def check_bucket(ctx: Context) -> tuple[str, dict[str, Any]]:
    s3, bucket = ctx.aws("s3"), ctx.settings.require("upload_bucket")
    try:
        s3.head_bucket(Bucket=bucket)
    except bce.ClientError as exc:
        raise Failed(f"bucket {bucket} is not there ({_code(exc)})", ctx.reapply("the bucket")) from exc
    problems: list[str] = []
    facts: dict[str, Any] = {"bucket": bucket}
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        facts["encryption"] = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
    except bce.ClientError as exc:
        if _code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        problems.append("no default encryption")
    facts["versioning"] = s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
    if facts["versioning"] != "Enabled":
        problems.append(f"versioning {facts['versioning']}")
    try:
        lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        enabled = [rule for rule in lifecycle if rule.get("Status") == "Enabled"]
        facts["expiration_days"] = min((r["Expiration"]["Days"] for r in enabled if "Days" in r.get("Expiration", {})), default=None)
        facts["noncurrent_days"] = min(
            (r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in enabled if "NoncurrentVersionExpiration" in r), default=None
        )
        if facts["expiration_days"] is None or facts["noncurrent_days"] is None:
            problems.append("the lifecycle does not expire current and noncurrent versions")
    except bce.ClientError as exc:
        if _code(exc) != "NoSuchLifecycleConfiguration":
            raise
        problems.append("no lifecycle rule")
    try:
        cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        facts["cors_methods"] = sorted({m for rule in cors for m in rule.get("AllowedMethods", [])})
        if "PUT" not in facts["cors_methods"] and "POST" not in facts["cors_methods"]:
            problems.append("CORS allows no browser upload (PUT or POST)")
    except bce.ClientError as exc:
        if _code(exc) != "NoSuchCORSConfiguration":
            raise
        problems.append("no CORS rule (browser uploads through presigned URLs would fail)")
    if problems:
        raise Failed(f"bucket {bucket}: " + "; ".join(problems), ctx.reapply("the bucket's settings"))
    return (
        f"{bucket}: {facts['encryption']} encryption, versioning on, expires after {facts['expiration_days']} days "
        f"(noncurrent {facts['noncurrent_days']}), CORS {', '.join(facts['cors_methods'])}",
        facts,
    )


def check_table(ctx: Context) -> tuple[str, dict[str, Any]]:
    ddb, name = ctx.aws("dynamodb"), ctx.settings.require("results_table")
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except bce.ClientError as exc:
        raise Failed(f"table {name} is not there ({_code(exc)})", ctx.reapply("the table")) from exc
    problems: list[str] = []
    facts: dict[str, Any] = {"table": name, "status": table["TableStatus"], "items": table.get("ItemCount")}
    if table["TableStatus"] != "ACTIVE":
        problems.append(f"status {table['TableStatus']}")
    indexes = {index["IndexName"]: index.get("IndexStatus", "ACTIVE") for index in table.get("GlobalSecondaryIndexes", [])}
    facts["indexes"] = indexes
    for index in stack.INDEXES:
        if index not in indexes:
            problems.append(f"index {index} is missing (history queries need it)")
        elif indexes[index] != "ACTIVE":
            problems.append(f"index {index} is {indexes[index]}")
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    facts["ttl"] = f"{ttl.get('TimeToLiveStatus')} on {ttl.get('AttributeName', '-')}"
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or ttl.get("AttributeName") != stack.TTL_ATTRIBUTE:
        problems.append(f"TTL is {facts['ttl']}, not ENABLED on {stack.TTL_ATTRIBUTE} (results would never expire)")
    if problems:
        raise Failed(f"table {name}: " + "; ".join(problems), ctx.reapply("the table's settings"))
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    facts["pitr"] = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
    detail = f"{name}: ACTIVE, indexes {', '.join(sorted(indexes))}, TTL on {stack.TTL_ATTRIBUTE}, point-in-time recovery {facts['pitr']}"
    if facts["pitr"] != "ENABLED":
        raise Failed(detail, ctx.reapply("point-in-time recovery"), status="warn")
    return detail, facts


def _recent_log_events(ctx: Context, group: str, hours: float = 24, limit: int = 10_000) -> list[dict[str, Any]]:
    logs = ctx.aws("logs")
    start = int((datetime.now(timezone.utc) - timedelta(hours=hours)).timestamp() * 1000)
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {"logGroupName": group, "startTime": start}
    while len(events) < limit:
        page = logs.filter_log_events(**request)
        events.extend(page.get("events", []))
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return events


def check_lambda(ctx: Context) -> tuple[str, dict[str, Any]]:
    name = ctx.settings.require("lambda_function")
    try:
        config = ctx.aws("lambda").get_function(FunctionName=name)["Configuration"]
    except bce.ClientError as exc:
        raise Failed(f"function {name} is not there ({_code(exc)})", ctx.reapply("the function")) from exc
    facts: dict[str, Any] = {
        "function": name,
        "state": config.get("State", "Active"),
        "runtime": config.get("Runtime"),
        "memory_mb": config.get("MemorySize"),
        "timeout_s": config.get("Timeout"),
    }
    if facts["state"] != "Active":
        raise Failed(f"function {name} is {facts['state']}: {config.get('StateReason', '')}", ctx.reapply("the function"))
    group = f"/aws/lambda/{name}"
    try:
        events = _recent_log_events(ctx, group)
    except bce.ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        events = []
    records = [record for record in map(_structured, events) if record is not None]
    errors = [r for r in records if r.get("outcome") == "error" or r.get("level") == "ERROR"]
    facts["invocations_24h"] = sum(1 for e in events if e.get("message", "").startswith("START RequestId"))
    facts["errors_24h"] = len(errors)
    last = max((e["timestamp"] for e in events), default=None)
    facts["last_invocation"] = datetime.fromtimestamp(last / 1000, timezone.utc).isoformat(timespec="seconds") if last else None
    detail = (
        f"{name}: Active, {facts['runtime']}, {facts['memory_mb']} MB, {facts['timeout_s']} s; "
        f"{facts['invocations_24h']} invocations in 24 h, last {facts['last_invocation'] or 'none yet'}"
    )
    if errors:
        raise Failed(
            f"{detail}; {len(errors)} records failed, last: {errors[-1].get('key')}: {errors[-1].get('error')}",
            "see the function's recent events below and its log group",
            status="warn",
        )
    return detail, facts


def _structured(event: dict[str, Any]) -> dict[str, Any] | None:
    message = event.get("message", "").strip()
    if not message.startswith("{"):
        return None
    try:
        record = json.loads(message)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    record.setdefault("timestamp", event.get("timestamp"))
    return record


def check_log_groups(ctx: Context) -> tuple[str, dict[str, Any]]:
    logs = ctx.aws("logs")
    services = [ctx.workbench.target(t) for t in ctx.workbench.enabled]
    of_models = [f"{s.log_group_prefix}{s.model_id}" for s in services if s.log_group_prefix is not None]
    wanted = [f"/aws/lambda/{ctx.settings.require('lambda_function')}", *dict.fromkeys(of_models)]
    found = {}
    for group in wanted:
        page = logs.describe_log_groups(logGroupNamePrefix=group)
        match = next((g for g in page.get("logGroups", []) if g["logGroupName"] == group), None)
        found[group] = None if match is None else match.get("retentionInDays", 0)
    facts = {"retention_days": found}
    missing = [g for g, days in found.items() if days is None]
    forever = [g for g, days in found.items() if days == 0]
    if missing:
        raise Failed(f"no log group {', '.join(missing)}", ctx.reapply("the log groups"))
    detail = ", ".join(f"{g}: {days or 'never expires'}{' days' if days else ''}" for g, days in found.items())
    if forever:
        raise Failed(detail, ctx.reapply("the log retention"), status="warn")
    return detail, facts


def target_check(target_id: str) -> Callable[["Context"], tuple[str, dict[str, Any]]]:
    """A target's health check: its service's probe (the cheapest real request), one attempt within the timeout."""

    def run(ctx: Context) -> tuple[str, dict[str, Any]]:
        return ctx.workbench.target(target_id).probe(ctx.timeout)

    return run


def batch_check(target_id: str) -> Callable[["Context"], tuple[str, dict[str, Any]]]:
    """A target's batch check: what its batch jobs need besides the service (its service's batch_probe)."""

    def run(ctx: Context) -> tuple[str, dict[str, Any]]:
        return ctx.workbench.target(target_id).batch_probe(ctx.timeout)

    return run


def check_local_aws(ctx: Context) -> tuple[str, dict[str, Any]]:
    from .local.control import running

    conn = running(ctx.settings)
    if conn is None:
        raise Failed("the local cloud is not running", "start it: `python -m mcv_core local up`")
    try:
        ctx.aws("sts").get_caller_identity()
    except (bce.BotoCoreError, bce.ClientError) as exc:
        raise Failed(f"AWS (moto) at {conn.moto_url} does not answer: {exc}", "restart it: `python -m mcv_core local down && python -m mcv_core local up`") from exc
    return f"AWS services (moto) answer at {conn.moto_url}", {"url": conn.moto_url}


def check_local_emulator(ctx: Context) -> tuple[str, dict[str, Any]]:
    import requests

    from .local.control import running

    conn = running(ctx.settings)
    if conn is None:
        raise Failed("the local cloud is not running", "start it: `python -m mcv_core local up`")
    try:
        requests.get(f"{conn.emulator_url}/ping", timeout=ctx.timeout).raise_for_status()
    except requests.RequestException as exc:
        raise Failed(
            f"the AI emulator at {conn.emulator_url} does not answer ({type(exc).__name__})",
            "restart the local cloud: `python -m mcv_core local down && python -m mcv_core local up`",
        ) from exc
    return (
        f"model APIs (SageMaker runtime, Bedrock, Azure OpenAI, OpenAI-compatible) answer at {conn.emulator_url}",
        {"url": conn.emulator_url},
    )


def check_alarms(ctx: Context) -> tuple[str, dict[str, Any]]:
    try:
        found = alarms.current(ctx.workbench)
    except (bce.ClientError, bce.BotoCoreError) as exc:
        raise Failed(
            f"CloudWatch did not list the alarms ({type(exc).__name__}: {exc})",
            "check that CloudWatch is reachable" + ("" if ctx.settings.is_local else " and that the credentials may call cloudwatch:DescribeAlarms"),
        ) from exc
    title_of = ctx.workbench.catalogue.title
    states = {a.name: a.state for a in found}
    facts: dict[str, Any] = {"alarms": len(found), "states": states}
    if not found:
        how = "`python -m mcv_core local provision` puts them" if ctx.settings.is_local else "terraform/aws's alarms module creates them"
        return f"no alarms named {alarms.PREFIX}-* ({how})", facts
    firing = alarms.ordered([a for a in found if a.state == "ALARM"], title_of)
    counts = {state: sum(1 for a in found if a.state == state) for state in ("ALARM", "OK", "INSUFFICIENT_DATA")}
    detail = (
        f"{fmt.count(len(found), 'alarm')}: {counts['ALARM']} in alarm, {counts['OK']} ok, "
        f"{counts['INSUFFICIENT_DATA']} without data"
    )
    if firing:
        listed = "; ".join(f"{alarms.title(a.name, title_of)} ({a.name}): {a.reason}" for a in firing)
        raise Failed(f"{detail}. In alarm: {listed}", "see the Alarms section of the Infrastructure page, or `python -m mcv_core alarms`", status="warn")
    return detail, facts


CHECKS: tuple[Check, ...] = (
    Check("local_aws", "Local cloud: AWS services", "moto answers STS", check_local_aws, local_only=True),
    Check("local_emulator", "Local cloud: model APIs", "the AI emulator answers /ping", check_local_emulator, local_only=True),
    Check("bucket", "S3 upload bucket", "exists, default encryption, versioning, lifecycle, CORS", check_bucket, ("local_aws",)),
    Check("table", "DynamoDB results table", "ACTIVE, indexes, TTL, point-in-time recovery", check_table, ("local_aws",)),
    Check("lambda", "S3 event Lambda", "Active, last invocation and errors in its logs (24 h)", check_lambda, ("local_aws",)),
    Check("log_groups", "CloudWatch log groups", "exist with a retention", check_log_groups, ("local_aws",)),
    Check("alarms", "CloudWatch alarms", "none of the stack's alarms is in ALARM", check_alarms, ("local_aws",)),
)


def checks_for(workbench: Workbench) -> list[Check]:
    """The stack's checks, then one per enabled target (named by its id), in catalogue order, each followed by
    its batch check (`<id>.batch`: the role or deployment its batch jobs need) where its service runs batch jobs."""
    checks = [c for c in CHECKS if workbench.settings.is_local or not c.local_only]
    for target_id in workbench.enabled:
        service = workbench.target(target_id)
        checks.append(Check(target_id, service.title, service.probe_checks, target_check(target_id), service.probe_needs))
        if service.batch_limits is not None:
            checks.append(
                Check(f"{target_id}.batch", f"{service.title}: batch", service.batch_probe_checks, batch_check(target_id), service.probe_needs)
            )
    return checks


def _run_one(check: Check, ctx: Context) -> CheckResult:
    started = time.perf_counter()
    try:
        detail, facts = check.run(ctx)
        status, fix = "ok", None
    except Failed as exc:
        detail, facts, status, fix = exc.detail, {}, exc.status, exc.fix
    except MCVError as exc:  # e.g. a missing setting: MCV_BUCKET is not set
        detail, facts, status, fix = exc.message, {}, "fail", exc.hint
    except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
        detail, facts, status, fix = f"{type(exc).__name__}: {exc}", {}, "fail", "check that the service is reachable"
    except Exception as exc:  # a check's own bug fails that check alone, never the others; logged in full
        log.exception("health check %s failed unexpectedly", check.name)
        detail, facts, status, fix = f"the check itself failed: {type(exc).__name__}: {exc}", {}, "fail", "report this; the other checks are unaffected"
    return CheckResult(
        check.name, check.title, status, check.checked, detail, fix, round((time.perf_counter() - started) * 1000, 1), facts
    )


def run_checks(workbench: Workbench, timeout: float = CHECK_TIMEOUT_S) -> list[CheckResult]:
    """Every check at once, each within `timeout`; a check whose prerequisite failed is reported, not run."""
    ctx = Context(workbench, timeout)
    checks = checks_for(workbench)
    present = {c.name for c in checks}
    results: dict[str, CheckResult] = {}
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="mcv-health")
    try:
        # First what others need (the local cloud's parts, in local mode), then everything else at once.
        for wave in ([c for c in checks if not set(c.needs) & present], [c for c in checks if set(c.needs) & present]):
            runnable = []
            for check in wave:
                blocked = [n for n in check.needs if n in results and results[n].status == "fail"]
                if blocked:
                    results[check.name] = CheckResult(
                        check.name, check.title, "warn", check.checked, f"not checked: {results[blocked[0]].title} is down", results[blocked[0]].fix
                    )
                else:
                    runnable.append(check)
            futures = {pool.submit(_run_one, check, ctx): check for check in runnable}
            done, pending = wait(futures, timeout=timeout + 2)
            for future in done:
                results[futures[future].name] = future.result()
            for future in pending:
                check = futures[future]
                results[check.name] = CheckResult(
                    check.name, check.title, "fail", check.checked, f"no answer within {timeout:g} s", "check that the service is reachable", timeout * 1000
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [results[c.name] for c in checks]


def lambda_events(workbench: Workbench, hours: float = 24, limit: int = 100) -> list[dict[str, Any]]:
    """The S3 event Lambda's structured log lines (one per S3 record), newest first."""
    ctx = Context(workbench, CHECK_TIMEOUT_S)
    group = f"/aws/lambda/{workbench.settings.require('lambda_function')}"
    try:
        events = _recent_log_events(ctx, group, hours)
    except bce.ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return []
        raise
    records = [r for r in map(_structured, events) if r is not None]
    for record in records:
        record["time"] = datetime.fromtimestamp(record.pop("timestamp") / 1000, timezone.utc)
    records.sort(key=lambda r: r["time"], reverse=True)
    return records[:limit]
