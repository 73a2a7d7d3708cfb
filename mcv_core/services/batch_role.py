"""The role a batch job runs as (Bedrock's batch role, the SageMaker model's role for transform jobs): read from
IAM and checked for what a job needs here: its service may assume it, and it may read the batch inputs and write
the batch outputs (terraform/aws: ReadBatchInputs and WriteBatchOutputs)."""

from __future__ import annotations

from typing import Any

from .. import stack


def read_role(iam: Any, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The role's trust policy and its inline policies (botocore decodes IAM's policy documents)."""
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    policies = [
        iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    return trust, policies


def problems(trust: dict[str, Any], policies: list[dict[str, Any]], principal: str, service_title: str) -> list[str]:
    """What keeps the role from serving batch jobs of `principal` (e.g. bedrock.amazonaws.com); [] when nothing."""
    found: list[str] = []
    trusted = any(
        statement.get("Effect") == "Allow"
        and principal in _listed(statement.get("Principal", {}).get("Service", []))
        and "sts:AssumeRole" in _listed(statement.get("Action", []))
        for statement in _listed(trust.get("Statement", []))
    )
    if not trusted:
        found.append(f"{service_title} ({principal}) may not assume it")
    statements = [statement for policy in policies for statement in _listed(policy.get("Statement", []))]
    if not _allows(statements, "s3:GetObject", f"/{stack.BATCH_INPUT_PREFIX}*"):
        found.append(f"it may not read {stack.BATCH_INPUT_PREFIX}")
    if not _allows(statements, "s3:PutObject", f"/{stack.BATCH_OUTPUT_PREFIX}*"):
        found.append(f"it may not write {stack.BATCH_OUTPUT_PREFIX}")
    return found


def _allows(statements: list[dict[str, Any]], action: str, resource_suffix: str) -> bool:
    """True when an Allow statement grants `action` on a resource ending in `resource_suffix`."""
    return any(
        statement.get("Effect") == "Allow"
        and action in _listed(statement.get("Action", []))
        and any(str(resource).endswith(resource_suffix) for resource in _listed(statement.get("Resource", [])))
        for statement in statements
    )


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
