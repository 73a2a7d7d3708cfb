"""The GitHub Actions workflows and the CI/CD Terraform behind them, checked offline.

Each workflow is valid against SchemaStore's GitHub workflow schema (the copy vendored in check-jsonschema), runs
only make targets and scripts that exist, holds no AWS keys, and asks for an OIDC token only in jobs that assume
a role. The roles and identities it assumes trust this repository's pull requests (plan) and its deployment
branch or environment (apply) only.
"""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .tfconfig import AWS, AWS_MODULES, AZURE, REPO, Evaluator, block, literal, load, unquote

WORKFLOWS = REPO / ".github" / "workflows"
CICD = AWS_MODULES / "cicd"
MAKEFILE = REPO / "Makefile"
OIDC_ACTIONS = ("aws-actions/configure-aws-credentials", "azure/login")
REPOSITORY = "octo-org/mc-vision"


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML reads YAML 1.1, where `on:` is the boolean true; GitHub reads it as the key "on" (YAML 1.2 booleans)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))


def _workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)


WORKFLOW_FILES = _workflow_files()
ids = [p.name for p in WORKFLOW_FILES]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema").joinpath("builtin_schemas/vendor/github-workflows.json")
    return json.loads(vendored.read_text(encoding="utf-8"))


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, job, step) for name, job in workflow["jobs"].items() for step in job.get("steps", [])]


def _commands(script: str) -> list[list[str]]:
    """The simple commands of a run script, as words: lines joined at backslashes, split at ; && || | and then."""
    script = re.sub(r"\\\n", " ", script)
    found = []
    for line in script.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s*(?:;|&&|\|\||\||\bthen\b|\bdo\b|\{|\})\s*", line):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
                words = words[1:]  # environment assignments before the command
            if words:
                found.append(words)
    return found


def _make_targets() -> set[str]:
    text = MAKEFILE.read_text(encoding="utf-8")
    return {t for line in re.findall(r"^([A-Za-z0-9_.\- ]+):(?!=)", text, re.M) for t in line.split()}


def _make_variables() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_]+)\s*:?=\s*(\S+)\s*$", MAKEFILE.read_text(encoding="utf-8"), re.M))


def test_the_two_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"test.yml", "terraform.yml"}


# --- shape --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_workflow_is_valid_against_the_github_workflow_schema(path: Path, schema: dict[str, Any]) -> None:
    workflow = _load(path)
    assert isinstance(workflow, dict) and "on" in workflow, f"{path.name}: no `on:` trigger"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(workflow), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{path.name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_check_rejects_a_broken_workflow(schema: dict[str, Any]) -> None:
    # Guards against a schema that accepts anything (a wrong file, an empty schema).
    broken = {"on": "push", "jobs": {"x": {"runs-on": "ubuntu-24.04", "steps": [{"uses": "a/b@v1", "run": "true"}]}}}
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors({"on": "push", "jobs": {"x": {}}}))


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_workflow_permissions_are_least(path: Path) -> None:
    workflow = _load(path)
    # Read-only by default; a job asks for more itself.
    assert workflow.get("permissions") == {"contents": "read"}, f"{path.name}: top-level permissions"
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions", {})
        assert permissions != "write-all" and "write-all" not in str(permissions), (path.name, name)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_id_token_only_where_a_role_is_assumed(path: Path) -> None:
    workflow = _load(path)
    assert "id-token" not in (workflow.get("permissions") or {}), f"{path.name}: id-token at the workflow level"
    for name, job in workflow["jobs"].items():
        assumes = [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(OIDC_ACTIONS)]
        wants_token = (job.get("permissions") or {}).get("id-token") == "write"
        assert wants_token == bool(assumes), f"{path.name}: job {name} id-token: write without a role, or the reverse"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_actions_are_pinned_the_same_way(path: Path) -> None:
    refs = [str(step["uses"]) for _, _, step in _steps(_load(path)) if "uses" in step]
    assert refs
    for ref in refs:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", ref), f"{path.name}: {ref} is not pinned to a major version"


# --- what the workflows run exists ---------------------------------------------------------------------------


def _runs(path: Path) -> list[tuple[str, dict[str, Any], str]]:
    return [(name, job, str(step["run"])) for name, job, step in _steps(_load(path)) if "run" in step]


def _script_files(path: Path) -> list[tuple[str, Path]]:
    """(job, repository script) for each command in the workflow that is a path to a file."""
    found = []
    for name, _, script in _runs(path):
        for words in _commands(script):
            if "/" in words[0] and not words[0].startswith(("/", "$")):
                found.append((name, REPO / words[0]))
    return found


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_every_make_target_exists(path: Path) -> None:
    targets = _make_targets()
    assert {"test", "model", "checkov-venv"} <= targets, "the Makefile parser is broken"
    scripts = [script for _, _, script in _runs(path)]
    # The repository scripts a workflow runs (.ci/run runs `make test`) count as what it runs.
    scripts += [file.read_text(encoding="utf-8") for _, file in _script_files(path) if file.is_file()]
    used = [w for script in scripts for words in _commands(script) if words[0] == "make" for w in words[1:]
            if not w.startswith("-") and "=" not in w]
    assert used, f"{path.name} runs no make target"
    missing = sorted(set(used) - targets)
    assert not missing, f"{path.name} runs make targets the Makefile lacks: {missing}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_every_script_it_runs_exists(path: Path) -> None:
    # What make builds (.venv, .venv-checkov) exists once a make target ran earlier in the same job.
    generated = tuple(f"{v.rstrip('/')}/" for k, v in _make_variables().items() if k.endswith("VENV"))
    assert ".venv-checkov/" in generated, generated
    made: set[str] = set()
    for name, _, script in _runs(path):
        for words in _commands(script):
            if words[0] == "make":
                made.add(name)
            elif "/" in words[0] and not words[0].startswith(("/", "$")):
                if words[0].startswith(generated):
                    assert name in made, f"{path.name}: job {name} runs {words[0]} before any make target"
                else:
                    file = REPO / words[0]
                    assert file.is_file(), f"{path.name}: job {name} runs {words[0]}, which does not exist"
                    assert file.stat().st_mode & 0o111, f"{path.name}: {words[0]} is not executable"


def test_the_test_workflow_runs_what_ci_runs() -> None:
    workflow = _load(WORKFLOWS / "test.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    commands = [words for _, _, script in _runs(WORKFLOWS / "test.yml") for words in _commands(script)]
    assert [".ci/run"] in commands or ["make", "test"] in commands
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    (job,) = workflow["jobs"].values()
    assert str(job["runs-on"]).startswith("ubuntu")
    image = (job.get("container") or {}).get("image", "")
    python = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python")]
    assert image.startswith("python:3.11") or (python and str(python[0]["with"]["python-version"]) == "3.11")


# --- no stored keys ------------------------------------------------------------------------------------------

KEY_PATTERNS = [
    re.compile(r"aws-access-key-id|aws-secret-access-key|aws-session-token", re.I),
    re.compile(r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"client-secret|ARM_CLIENT_SECRET|AZURE_CLIENT_SECRET|creds:", re.I),
]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=ids)
def test_no_cloud_keys_in_any_workflow(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in KEY_PATTERNS:
        assert not pattern.search(text), f"{path.name} names {pattern.pattern}"
    for name, _, step in _steps(_load(path)):
        uses = str(step.get("uses", ""))
        if uses.startswith("aws-actions/configure-aws-credentials"):
            assert set(step["with"]) >= {"role-to-assume", "aws-region"}, (path.name, name)
        if uses.startswith("azure/login"):
            assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}, (path.name, name)


# --- the Terraform workflow ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def terraform_workflow() -> dict[str, Any]:
    return _load(WORKFLOWS / "terraform.yml")


def _step_runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def test_terraform_workflow_plans_pull_requests_and_applies_main(terraform_workflow: dict[str, Any]) -> None:
    on = terraform_workflow["on"]
    assert "pull_request" in on and on["push"]["branches"] == ["main"]
    jobs = terraform_workflow["jobs"]
    checks = _step_runs(jobs["checks"])
    assert "terraform fmt -check -recursive" in checks and "checkov -d terraform" in checks
    for name in ("plan", "apply"):
        job = jobs[name]
        assert job["strategy"]["matrix"]["stack"] == ["aws", "azure"]
        assert job["defaults"]["run"]["working-directory"] == "terraform/${{ matrix.stack }}"
        runs = _step_runs(job)
        for command in ("terraform init", "-backend-config=", "terraform validate", "terraform plan", "make model"):
            assert command in runs, (name, command)
        assert "needs" in job and job["needs"] == "checks"
    assert "pull_request" in jobs["plan"]["if"]
    assert "refs/heads/main" in jobs["apply"]["if"] and "pull_request" in jobs["apply"]["if"]
    assert "terraform apply" in _step_runs(jobs["apply"]) and "terraform apply" not in _step_runs(jobs["plan"])
    # The plan reaches the pull request: the job summary and a comment.
    plan_steps = jobs["plan"]["steps"]
    assert "GITHUB_STEP_SUMMARY" in _step_runs(jobs["plan"])
    assert any(str(s.get("uses", "")).startswith("actions/github-script") for s in plan_steps)
    assert jobs["plan"]["permissions"].get("pull-requests") == "write"


def test_backend_settings_come_from_repository_variables(terraform_workflow: dict[str, Any]) -> None:
    example = (AWS / "backend.hcl.example").read_text(encoding="utf-8")
    keys = set(re.findall(r"^(\w+)\s*=", example, re.M))
    for name in ("plan", "apply"):
        runs = _step_runs(terraform_workflow["jobs"][name])
        given = set(re.findall(r'-backend-config="(\w+)=', runs))
        assert given == keys, (name, given ^ keys)
        assert re.search(r'-backend-config="bucket=\$\{\{ vars\.\w+ \}\}"', runs)


def test_apply_is_serialised_and_gated_by_an_environment(terraform_workflow: dict[str, Any]) -> None:
    apply = terraform_workflow["jobs"]["apply"]
    environment = apply["environment"]
    name = environment if isinstance(environment, str) else environment["name"]
    assert name == _default(CICD, "github_environment")
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert "matrix.stack" in apply["concurrency"]["group"]  # one apply per stack (per state) at a time
    # The plan applied is the plan just made and shown.
    runs = _step_runs(apply)
    assert "-out=tfplan" in runs and "apply -no-color -lock-timeout=10m -auto-approve tfplan" in runs


def test_plan_and_apply_assume_different_roles(terraform_workflow: dict[str, Any]) -> None:
    def assumed(job: str, action: str, key: str) -> str:
        (step,) = [s for s in terraform_workflow["jobs"][job]["steps"] if str(s.get("uses", "")).startswith(action)]
        return str(step["with"][key])

    aws = "aws-actions/configure-aws-credentials"
    assert assumed("plan", aws, "role-to-assume") == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    assert assumed("apply", aws, "role-to-assume") == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert assumed("plan", "azure/login", "client-id") == "${{ vars.AZURE_PLAN_CLIENT_ID }}"
    assert assumed("apply", "azure/login", "client-id") == "${{ vars.AZURE_DEPLOY_CLIENT_ID }}"
    # Terraform's azurerm provider signs in with the same identity (OIDC), not with a secret.
    for job in ("plan", "apply"):
        env = terraform_workflow["jobs"][job]["env"]
        assert env["ARM_USE_OIDC"] == "true" and env["ARM_CLIENT_ID"] == assumed(job, "azure/login", "client-id")


def test_lambda_package_is_left_to_terraform() -> None:
    # terraform/aws zips lambda/ itself (archive_file) and uploads model.tar.gz itself (aws_s3_object): the workflow
    # builds the model and does not upload either on its own.
    lambda_module = load(AWS_MODULES / "lambda")
    assert "archive_file" in lambda_module.data
    assert load(AWS).resource("aws_s3_object", "model")
    text = (WORKFLOWS / "terraform.yml").read_text(encoding="utf-8")
    assert "aws s3 cp" not in text and "aws lambda update-function-code" not in text


# --- the roles the workflows assume: terraform/aws/modules/cicd ---------------------------------------------


def _default(path: Path, name: str) -> Any:
    return literal(load(path).variables[name]["default"])


@pytest.fixture(scope="module")
def cicd() -> Evaluator:
    inputs = {"github_repository": REPOSITORY, "name_prefix": "mc-vision", "account_id": "123456789012"}
    return Evaluator(load(CICD), inputs)


def test_cicd_module_variables_are_typed_and_described() -> None:
    config = load(CICD)
    assert {"github_repository", "github_branch", "github_environment", "oidc_provider_arn"} <= set(config.variables)
    for name, variable in config.variables.items():
        assert "type" in variable, name
        assert len(unquote(variable.get("description", "")).strip()) >= 30, name
    for name, output in config.outputs.items():
        assert len(unquote(output.get("description", "")).strip()) >= 30, name
    assert "github_repository" not in {k for k, v in config.variables.items() if "default" in v}  # always given


def _regex_of(config_path: Path, variable: str) -> re.Pattern[str]:
    condition = block(load(config_path).variables[variable], "validation")["condition"]
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1)
    return re.compile(pattern.encode().decode("unicode_escape"))


@pytest.mark.parametrize("path", [CICD, AWS, AZURE], ids=["cicd", "aws", "azure"])
def test_repository_must_be_owner_slash_name(path: Path) -> None:
    pattern = _regex_of(path, "github_repository")
    for good in (REPOSITORY, "octo/mc.vision_2", "a/b", "Octo-Org-1/x-y"):
        assert pattern.search(good), good
    for bad in ("mc-vision", "octo-org/", "/mc-vision", "octo--org/x", "-octo/x", "octo/x/y", "octo org/x", "*/*"):
        assert not pattern.search(bad), bad


def test_trust_names_the_repository_and_the_branch(cicd: Evaluator) -> None:
    assert cicd.local("branch_subject") == f"repo:{REPOSITORY}:ref:refs/heads/main"
    assert cicd.local("environment_subject") == f"repo:{REPOSITORY}:environment:production"
    assert cicd.local("pull_request_subject") == f"repo:{REPOSITORY}:pull_request"
    assert _default(CICD, "github_branch") == "main"
    # The environment's subject when there is one (GitHub then puts it in place of the branch), else the branch's.
    assert cicd.config.locals["deploy_subject"] == (
        '${var.github_environment == "" ? local.branch_subject : local.environment_subject}'
    )
    other = Evaluator(load(CICD), {"github_repository": REPOSITORY, "github_branch": "release"})
    assert other.local("branch_subject") == f"repo:{REPOSITORY}:ref:refs/heads/release"


@pytest.mark.parametrize(
    ("document", "subject"), [("deploy_trust", "deploy_subject"), ("plan_trust", "pull_request_subject")]
)
def test_each_role_trusts_one_subject_and_the_sts_audience(document: str, subject: str) -> None:
    config = load(CICD)
    (statement,) = config.data["aws_iam_policy_document"][document]["statement"]
    assert literal(statement["actions"]) == ["sts:AssumeRoleWithWebIdentity"]
    (principal,) = statement["principals"]
    assert literal(principal["type"]) == "Federated"
    assert literal(principal["identifiers"]) == ["${local.oidc_provider_arn}"]
    conditions = {literal(c["variable"]): (literal(c["test"]), literal(c["values"])) for c in statement["condition"]}
    assert conditions == {
        "${local.issuer}:aud": ("StringEquals", ["sts.amazonaws.com"]),
        "${local.issuer}:sub": ("StringEquals", [f"${{local.{subject}}}"]),  # exact: no wildcard subject
    }
    assert Evaluator(config).local("issuer") == "token.actions.githubusercontent.com"


def test_oidc_provider_is_github_with_the_sts_audience() -> None:
    provider = load(CICD).resource("aws_iam_openid_connect_provider", "github")
    assert Evaluator(load(CICD)).value(provider["url"]) == "https://token.actions.githubusercontent.com"
    assert literal(provider["client_id_list"]) == ["sts.amazonaws.com"]
    assert provider["count"] == "${var.oidc_provider_arn == null ? 1 : 0}"  # or reuse the account's


def test_ci_roles_are_out_of_reach_of_the_deployment_role(cicd: Evaluator) -> None:
    config = load(CICD)
    for role in ("plan", "deploy"):
        assert config.resource("aws_iam_role", role)["path"] == "${local.path}"
    assert cicd.local("path") == "/github-actions/"
    # The deployment role writes roles and policies named <prefix>-* at the root path only.
    assert cicd.value(cicd.config.locals["roles"].replace("${local.arn}", "arn:aws")) == (
        "arn:aws:iam::123456789012:role/mc-vision-*"
    )
    deploy = config.data["aws_iam_policy_document"]["deploy"]["statement"]
    for statement in deploy:
        resources = str(statement["resources"])
        if any(a.startswith("iam:") for a in literal(statement["actions"])):
            assert "ci_roles" not in resources and "ci_policy" not in resources and "github-actions" not in resources


def test_only_the_deployment_role_may_change_anything() -> None:
    config = load(CICD)
    read = config.data["aws_iam_policy_document"]["read"]["statement"]
    writes = re.compile(r":(Create|Delete|Put|Update|Tag|Untag|Attach|Detach|Add|Remove|Associate|Set|Subscribe|Pass)")
    for statement in read:
        sid = literal(statement["sid"])
        for action in literal(statement["actions"]):
            if sid.startswith("LockState"):
                continue  # the state lock items and lock files, which a plan takes and releases
            assert not writes.search(action), f"read policy {sid} allows {action}"
    pairs = sorted((r["role"], r["policy_arn"]) for r in config.resources["aws_iam_role_policy_attachment"].values())
    assert pairs == [
        ("${aws_iam_role.deploy.name}", "${aws_iam_policy.deploy.arn}"),
        ("${aws_iam_role.deploy.name}", "${aws_iam_policy.read.arn}"),
        ("${aws_iam_role.plan.name}", "${aws_iam_policy.read.arn}"),
    ]


def test_state_access_is_limited_to_the_stacks_keys() -> None:
    statements = {literal(s["sid"]): s for s in load(CICD).data["aws_iam_policy_document"]["read"]["statement"]}
    lock = statements["LockState"]
    (condition,) = lock["condition"]
    assert literal(condition["variable"]) == "dynamodb:LeadingKeys"
    assert literal(condition["values"]) == "${local.lock_items}"
    assert literal(statements["ReadState"]["resources"]) == "${local.state_objects}"


def test_root_wires_the_module_behind_github_repository() -> None:
    root = load(AWS)
    call = root.modules["cicd"]
    assert unquote(call["source"]) == "./modules/cicd"
    assert call["count"] == '${var.github_repository == "" ? 0 : 1}'
    assert call["github_repository"] == "${var.github_repository}"
    assert call["github_branch"] == "${var.github_branch}"
    assert call["github_environment"] == "${var.github_environment}"
    assert _default(AWS, "github_repository") == ""  # not created unless asked for
    for output in ("github_plan_role_arn", "github_deploy_role_arn"):
        assert "module.cicd[0]" in root.outputs[output]["value"]
    # The stack's names are what the deployment role may manage.
    assert call["upload_bucket_name"] == "${local.names.upload_bucket}"
    assert call["results_table_name"] == "${local.names.results_table}"


def test_azure_federated_credentials_name_the_repository_and_branch() -> None:
    azure = Evaluator(load(AZURE), {"github_repository": REPOSITORY})
    assert azure.local("github_plan_subject") == f"repo:{REPOSITORY}:pull_request"
    deploy_subject = azure.config.locals["github_deploy_subject"]
    assert "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}" in deploy_subject
    assert "repo:${var.github_repository}:environment:${var.github_environment}" in deploy_subject
    config = load(AZURE)
    for name in ("github_plan", "github_deploy"):
        credential = config.resource("azurerm_federated_identity_credential", name)
        assert azure.local("github_issuer") == "https://token.actions.githubusercontent.com"
        assert credential["issuer"] == "${local.github_issuer}"
        assert literal(credential["audience"]) == ["api://AzureADTokenExchange"]
        assert credential["parent_id"] == f"${{azurerm_user_assigned_identity.{name}[0].id}}"
        assert credential["count"] == "${local.cicd_enabled ? 1 : 0}"
    assert config.locals["cicd_enabled"] == '${var.github_repository != ""}'
    # The deployment identity contributes to the stack's resource group only; the plan identity reads.
    roles = {
        name: (literal(r["role_definition_name"]), r["scope"])
        for name, r in config.resources["azurerm_role_assignment"].items() if name.startswith("github_")
    }
    assert roles["github_deploy_contributor"] == ("Contributor", "${azurerm_resource_group.this.id}")
    assert roles["github_plan_reader"] == ("Reader", "${azurerm_resource_group.this.id}")
    assert roles["github_cicd_reader"] == ("Reader", "${azurerm_resource_group.cicd[0].id}")
    assert {role for role, _ in roles.values()} <= {"Contributor", "Reader", "Cognitive Services User"}
