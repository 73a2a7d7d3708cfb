"""SageMaker Batch Transform as a batch engine, through the local cloud with the real boto3 client, run as a user
runs it: `bench --mode batch` over the `sagemaker` target writes each record as one object under an S3 prefix,
creates a transform job on the model behind the endpoint (the same model.tar.gz and handler), and stores every
answer once, marked batch, at its share of the job's instance time. Then a job with a failing record (the job
fails, what it answered is kept, the rest says why), and a stopped one (SageMaker stores no output of a stopped
job, so the benchmark has no results).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcv_core import images, infra, pricing, stack
from mcv_core.local import control

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]
NAMES = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")


def mcv(*args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mcv_core", *args]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def _stored(workbench, bench_id: str) -> list[dict]:  # noqa: ANN001
    return [item for item in workbench.history.select(bench_id=bench_id) if item["mode"] == "batch"]


def _keys(workbench, prefix: str) -> list[str]:  # noqa: ANN001
    s3 = workbench.clients.aws("s3")
    listed = s3.list_objects_v2(Bucket=workbench.settings.upload_bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _where(bench_id: str) -> str:
    return f"{bench_id}/sagemaker/000"


def start_transform_bench(workbench, three_photos: list[str]) -> tuple[subprocess.Popen, str, str]:  # noqa: ANN001
    """`bench --mode batch` of the photos twice on SageMaker, in the background, once its transform job has started:
    the process, the benchmark's id and the job's."""
    command = [sys.executable, "-m", "mcv_core", "bench", *three_photos, "--targets", "sagemaker", "--repeat", "2"]
    proc = subprocess.Popen(
        [*command, "--mode", "batch"], cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    sm = workbench.clients.aws("sagemaker")
    bench_id = job_id = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [
            s for s in workbench.history.batches(1) if s["targets"] == ["sagemaker"] and s["jobs"] and not s["over"]
        ]
        if states:
            bench_id, job_id = states[-1]["bench_id"], states[-1]["jobs"][0]["job_id"]
            if "TransformStartTime" in sm.describe_transform_job(TransformJobName=job_id):
                break
        time.sleep(0.5)
    assert bench_id is not None and job_id is not None
    return proc, bench_id, job_id


def test_three_photos_twice_as_one_transform_job_on_the_endpoint_s_own_model(local_env, workbench, three_photos):
    done = mcv("bench", *three_photos, "--targets", "sagemaker", "--repeat", "2", "--mode", "batch", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["mode"] == "batch" and doc["over"] is True and doc["planned"] == 6
    [job] = doc["jobs"]
    assert (job["target"], job["count"], job["status"], job["phase"]) == ("sagemaker", 6, "Completed", "done")

    # The job as SageMaker describes it: the model behind the endpoint, the stack's transform instance type.
    described = workbench.clients.aws("sagemaker").describe_transform_job(TransformJobName=job["job_id"])
    names = stack.StackNames.for_account(workbench.settings.upload_bucket.rsplit("-", 1)[-1])
    assert described["TransformJobStatus"] == "Completed" and described["ModelName"] == names.sagemaker_model
    assert described["TransformResources"] == {"InstanceType": stack.TRANSFORM_INSTANCE_TYPE, "InstanceCount": 1}
    assert described["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
    seconds = (described["TransformEndTime"] - described["TransformStartTime"]).total_seconds()
    assert seconds > 0
    hourly = pricing.transform_price(workbench.settings.region, stack.TRANSFORM_INSTANCE_TYPE)
    assert hourly is not None
    share = hourly.usd_per_hour * seconds / 3600 / 6

    # One object per record under the input prefix, one `.out` per record under the output prefix.
    where = _where(doc["bench_id"])
    records = [f"R{p:010d}" for p in range(6)]
    assert _keys(workbench, f"{stack.BATCH_INPUT_PREFIX}{where}/") == [
        f"{stack.BATCH_INPUT_PREFIX}{where}/{r}" for r in records
    ]
    assert _keys(workbench, f"{stack.BATCH_OUTPUT_PREFIX}{where}/") == [
        f"{stack.BATCH_OUTPUT_PREFIX}{where}/{r}.out" for r in records
    ]

    results = doc["results"]
    assert len(results) == 6
    assert {(r["image"], r["repeat"]) for r in results} == {(name, k) for name in NAMES for k in (1, 2)}
    for r in results:
        assert (r["mode"], r["job_id"], r["status"], r["latency_ms"]) == ("batch", job["job_id"], "ok", None), r
        assert r["cost_usd"] > 0 and r["cost_usd"] == pytest.approx(share, rel=1e-6)
        assert len(r["labels"]) == 5 and r["provider_latency_ms"] > 0

    # Every result stored once, marked batch; the labels are the real classifier's, the same as the endpoint's.
    stored = _stored(workbench, doc["bench_id"])
    assert len(stored) == 6 and len({item["run_id"] for item in stored}) == 6
    assert {item["job_id"] for item in stored} == {job["job_id"]}
    coffee = [item for item in stored if item["image_name"] == "coffee.jpg"]
    assert len(coffee) == 2 and all(item["labels"][0]["label"] == "espresso" for item in coffee)
    assert all(item["correct"] is True for item in coffee)
    source = workbench.load_image(Path(three_photos[1]).read_bytes(), "coffee.jpg")
    online = workbench.target("sagemaker").call(images.prepare(source, workbench.target("sagemaker").image_spec), "")
    assert [label.label for label in online.labels] == [label["label"] for label in coffee[0]["labels"]]
    assert online.labels[0].score == pytest.approx(float(coffee[0]["labels"][0]["score"]), abs=1e-4)


def test_a_failing_record_fails_the_job_and_keeps_what_it_answered(local_env, workbench, three_photos, batch_faults):
    batch_faults({"sagemaker": {"fail_every": 4}})  # the 4th record of the job fails
    done = mcv("bench", *three_photos, "--targets", "sagemaker", "--repeat", "2", "--mode", "batch", "--json")
    assert done.returncode == 1, done.stderr[-3000:]  # a failed job: the benchmark did not do all of its job
    doc = json.loads(done.stdout)
    [job] = doc["jobs"]
    assert (job["status"], job["phase"]) == ("Failed", "failed")
    reason = workbench.clients.aws("sagemaker").describe_transform_job(TransformJobName=job["job_id"])["FailureReason"]
    assert doc["failures"] == [f"sagemaker: job {job['job_id']} Failed: {reason}"]
    assert reason.startswith("ClientError: 1 of 6 records failed") and "R0000000003" in reason
    by_record = {int(r["run_id"].rsplit("-", 1)[1]): r for r in doc["results"]}
    assert sorted(by_record) == list(range(6))
    failed = by_record.pop(3)
    assert failed["status"] == "error" and failed["error_type"] == "batch_job_failed" and failed["cost_usd"] is None
    assert reason in failed["error"]
    assert all(r["status"] == "ok" and r["cost_usd"] > 0 and r["labels"] for r in by_record.values())
    assert len(_stored(workbench, doc["bench_id"])) == 6


def test_a_stopped_transform_job_stores_no_output_and_the_benchmark_no_results(
    local_env, workbench, three_photos, batch_faults
):
    batch_faults({"sagemaker": {"record_delay_s": 3.0}})  # a slow job: 6 records, 18 s
    proc, bench_id, job_id = start_transform_bench(workbench, three_photos)
    sm = workbench.clients.aws("sagemaker")
    time.sleep(4)  # a record or so answered
    done = mcv("bench", "--cancel", bench_id, "--json")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert done.returncode == 1, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["cancelled"] is True and [(j["status"], j["phase"]) for j in doc["jobs"]] == [("Stopped", "cancelled")]
    described = sm.describe_transform_job(TransformJobName=job_id)
    assert described["TransformJobStatus"] == "Stopped" and "FailureReason" not in described
    # SageMaker stores no output of a stopped job: nothing to collect, nothing stored.
    assert _keys(workbench, f"{stack.BATCH_OUTPUT_PREFIX}{_where(bench_id)}/") == []
    assert doc["results"] == [] and _stored(workbench, bench_id) == []
    # Stopping it again is refused by the service and taken as nothing left to cancel.
    again = mcv("bench", "--cancel", bench_id, "--json")
    assert json.loads(again.stdout)["results"] == []


def test_a_transform_job_in_progress_when_the_local_cloud_restarts_starts_again_and_ends(
    local_env, local_settings, workbench, three_photos, batch_faults
):
    batch_faults({"sagemaker": {"record_delay_s": 2.0}})  # slow records: a plan the restart below throws away
    proc, bench_id, job_id = start_transform_bench(workbench, three_photos)
    sm = workbench.clients.aws("sagemaker")
    proc.send_signal(signal.SIGINT)  # the terminal goes away: the job goes on
    _, err = proc.communicate(timeout=30)
    assert f"bench --resume {bench_id}" in err
    control.down(local_settings)
    control.up(local_settings, quiet=True)
    done = mcv("bench", "--resume", bench_id, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["over"] is True and [job["status"] for job in doc["jobs"]] == ["Completed"]
    assert len(doc["results"]) == 6 and all(r["status"] == "ok" and r["cost_usd"] > 0 for r in doc["results"])
    stored = _stored(workbench, bench_id)
    assert len(stored) == 6 and len({item["run_id"] for item in stored}) == 6


def test_the_batch_health_check_reads_the_endpoint_s_model_and_its_role(local_env, workbench):
    sm = workbench.clients.aws("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=workbench.settings.sagemaker_endpoint)
    model = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"][0]
    role = sm.describe_model(ModelName=model["ModelName"])["ExecutionRoleArn"].rsplit("/", 1)[-1]
    iam = workbench.clients.aws("iam")
    # What terraform/aws gives the SageMaker role for transform jobs (ReadBatchInputs, WriteBatchOutputs).
    bucket = f"arn:aws:s3:::{workbench.settings.upload_bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket}/{stack.BATCH_INPUT_PREFIX}*"},
            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": f"{bucket}/{stack.BATCH_OUTPUT_PREFIX}*"},
        ],
    }
    iam.put_role_policy(RoleName=role, PolicyName="batch-transform", PolicyDocument=json.dumps(policy))
    checks = {check.name: check for check in infra.checks_for(workbench)}
    assert "sagemaker.batch" in checks
    detail, facts = workbench.target("sagemaker").batch_probe(10.0)
    assert facts == {
        "model": model["ModelName"],
        "role": f"arn:aws:iam::{workbench.settings.upload_bucket.rsplit('-', 1)[-1]}:role/{role}",
        "instance_type": stack.TRANSFORM_INSTANCE_TYPE,
    }
    assert f"role {role}: trusted by SageMaker" in detail
