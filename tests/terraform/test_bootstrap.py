"""terraform/bootstrap/create-state-backend.sh against a fake `aws` CLI: creates once, then only re-applies."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from .tfconfig import AWS, TERRAFORM, literal

SCRIPT = TERRAFORM / "bootstrap" / "create-state-backend.sh"
ACCOUNT = "210987654321"

# A stand-in for the AWS CLI: keeps buckets and tables in a JSON file, logs every call, answers like the CLI
# does (ClientError messages on stderr, exit status 254).
FAKE_AWS = r'''#!PYTHON
import json, os, sys
ACCOUNT = "__ACCOUNT__"
state_file = os.environ["FAKE_AWS_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {"buckets": {}, "tables": [], "calls": []}
args = sys.argv[1:]
state["calls"].append(args)
def opt(name):
    return args[args.index(name) + 1] if name in args else None
def done(code=0, out="", err=""):
    json.dump(state, open(state_file, "w"))
    if out: print(out)
    if err: print(err, file=sys.stderr)
    sys.exit(code)
service, command = args[0], args[1]
if (service, command) == ("sts", "get-caller-identity"):
    done(out=ACCOUNT if opt("--query") == "Account" else f"arn:aws:iam::{ACCOUNT}:user/tester")
if service == "s3api":
    bucket = opt("--bucket")
    if command == "head-bucket":
        if bucket in os.environ.get("FAKE_AWS_FOREIGN", ""):
            done(254, err="An error occurred (403) when calling the HeadBucket operation: Forbidden")
        if bucket not in state["buckets"]:
            done(254, err="An error occurred (404) when calling the HeadBucket operation: Not Found")
        done()
    if command == "create-bucket":
        state["buckets"][bucket] = {"location": opt("--create-bucket-configuration")}
        done(out=json.dumps({"Location": "/" + bucket}))
    if command.startswith("put-bucket-") or command == "put-public-access-block":
        state["buckets"][bucket][command] = args[args.index("--bucket") + 2:]
        done()
if (service, command) == ("s3api", "wait"):
    done()
if service == "dynamodb":
    table = opt("--table-name")
    if command == "describe-table":
        if table in state["tables"]:
            done(out="{}")
        done(254, err="An error occurred (ResourceNotFoundException) when calling the DescribeTable operation")
    if command == "create-table":
        state["tables"].append(table)
        done(out="{}")
    if command == "wait":
        done()
done(2, err="fake aws: unexpected call " + " ".join(args))
'''


@pytest.fixture()
def fake_aws(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    script = FAKE_AWS.replace("#!PYTHON", f"#!{sys.executable}").replace("__ACCOUNT__", ACCOUNT)
    aws.write_text(script, encoding="utf-8")
    aws.chmod(aws.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROJECT"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_AWS_STATE=str(tmp_path / "state.json"))
    return env


def _run(env: dict[str, str], *args: str, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60)


def _state(env: dict[str, str]) -> dict:
    return json.loads(Path(env["FAKE_AWS_STATE"]).read_text())


def _backends(stdout: str) -> dict[str, dict]:
    blocks: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("# terraform/"):
            current = line.split("/")[1]
            blocks[current] = []
        elif current:
            blocks[current].append(line)
    return {name: literal(hcl2.loads("\n".join(lines))) for name, lines in blocks.items()}


def test_first_run_creates_bucket_and_table_and_prints_both_backends(fake_aws: dict[str, str]) -> None:
    done = _run(fake_aws, "--region", "ap-northeast-1")
    assert done.returncode == 0, done.stderr
    state = _state(fake_aws)
    bucket = f"mc-vision-tfstate-{ACCOUNT}"
    assert list(state["buckets"]) == [bucket]
    settings = state["buckets"][bucket]
    assert settings["location"] == "LocationConstraint=ap-northeast-1"
    assert settings["put-bucket-versioning"] == ["--versioning-configuration", "Status=Enabled"]
    encryption = json.loads(settings["put-bucket-encryption"][1])
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert settings["put-public-access-block"][1] == (
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    )
    policy = json.loads(settings["put-bucket-policy"][1])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert state["tables"] == ["mc-vision-tflock"]
    create_table = next(c for c in state["calls"] if c[:2] == ["dynamodb", "create-table"])
    assert "AttributeName=LockID,KeyType=HASH" in create_table and "PAY_PER_REQUEST" in create_table

    backends = _backends(done.stdout)
    example = literal(hcl2.loads((AWS / "backend.hcl.example").read_text()))
    assert set(backends) == {"aws", "azure"}
    for stack_name, backend in backends.items():
        assert set(backend) == set(example)
        assert backend["bucket"] == bucket and backend["dynamodb_table"] == "mc-vision-tflock"
        assert backend["key"] == f"mc-vision/{stack_name}.tfstate" and backend["region"] == "ap-northeast-1"


def test_second_run_creates_nothing_and_reapplies_settings(fake_aws: dict[str, str]) -> None:
    assert _run(fake_aws).returncode == 0
    calls_before = len(_state(fake_aws)["calls"])
    done = _run(fake_aws)
    assert done.returncode == 0, done.stderr
    second = _state(fake_aws)["calls"][calls_before:]
    assert not [c for c in second if c[1] in ("create-bucket", "create-table")]
    assert ["s3api", "put-bucket-versioning"] in [c[:2] for c in second]
    assert "exists" in done.stderr


def test_a_bucket_name_taken_elsewhere_stops_the_script(fake_aws: dict[str, str]) -> None:
    fake_aws["FAKE_AWS_FOREIGN"] = f"mc-vision-tfstate-{ACCOUNT}"
    done = _run(fake_aws)
    assert done.returncode == 1
    assert "403" in done.stderr and not _state(fake_aws)["tables"]


def test_us_east_1_needs_no_location_constraint(fake_aws: dict[str, str]) -> None:
    done = _run(fake_aws, "--region", "us-east-1", "--project", "demo")
    assert done.returncode == 0, done.stderr
    assert _state(fake_aws)["buckets"][f"demo-tfstate-{ACCOUNT}"]["location"] is None


def test_write_saves_the_backend_files(fake_aws: dict[str, str], tmp_path: Path) -> None:
    tree = tmp_path / "terraform"
    for name in ("bootstrap", "aws", "azure"):
        (tree / name).mkdir(parents=True)
    script = tree / "bootstrap" / SCRIPT.name
    shutil.copy(SCRIPT, script)
    done = _run(fake_aws, "--write", script=script)
    assert done.returncode == 0, done.stderr
    for name in ("aws", "azure"):
        written = literal(hcl2.loads((tree / name / "backend.hcl").read_text()))
        assert written["key"] == f"mc-vision/{name}.tfstate"


def test_unknown_argument_is_a_usage_error(fake_aws: dict[str, str]) -> None:
    done = _run(fake_aws, "--bogus")
    assert done.returncode == 2 and "unknown argument" in done.stderr
