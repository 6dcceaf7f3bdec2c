"""Check a Terraform plan (`terraform show -json plan.out`) against the tag policy.

Which resources: managed resources the plan creates or updates (`change.actions` holds
"create" or "update"), at any module depth (`module_address`). Which tags: `tags_all` when the
plan knows it (the AWS provider merges `default_tags` into it), else `tags`; Google resources
carry `effective_labels` / `labels` instead. A resource whose planned values have none of these
attributes does not take tags and is skipped. Plan format: the JSON output format documented at
developer.hashicorp.com/terraform/internals/json-format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudtally.errors import RuleError
from cloudtally.rules.tags import TagPolicy

TAG_ATTRIBUTES = ("tags_all", "tags", "effective_labels", "labels")
CHECKED_ACTIONS = {"create", "update"}


@dataclass(frozen=True)
class Violation:
    address: str
    module: str | None
    type: str
    key: str
    rule: str  # missing | invalid
    message: str


@dataclass
class PlanCheck:
    path: Path
    checked: int
    violations: list[Violation]


def load_plan(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError(
            f"{path}: no such plan file; write one with `terraform show -json plan.out > {path.name}`."
        ) from None
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(
            f"{path}:{exc.lineno}: not JSON ({exc.msg}); use `terraform show -json`, not the binary plan."
        ) from None
    if not isinstance(plan, dict) or (
        "resource_changes" not in plan and "format_version" not in plan
    ):
        raise RuleError(
            f"{path}: not a Terraform JSON plan (no format_version or resource_changes)."
        )
    return plan


def _tags_of(after: dict[str, Any], unknown: dict[str, Any]) -> dict[str, str] | None:
    """The tags a resource will have, or None when it does not take tags."""
    takes_tags = False
    for attribute in TAG_ATTRIBUTES:
        if attribute in after or attribute in unknown:
            takes_tags = True
        value = after.get(attribute)
        if isinstance(value, dict) and unknown.get(attribute) is not True:
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return {} if takes_tags else None


def check_plan(path: Path, policy: TagPolicy) -> PlanCheck:
    """Every created or updated resource missing a required key or with a value not allowed."""
    plan = load_plan(path)
    violations: list[Violation] = []
    checked = 0
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        details = change.get("change") or {}
        if not CHECKED_ACTIONS & set(details.get("actions") or []):
            continue
        after = details.get("after") or {}
        unknown = details.get("after_unknown") or {}
        tags = _tags_of(after, unknown)
        if tags is None:
            continue
        checked += 1
        address = change.get("address", "?")
        module = change.get("module_address")
        kind = change.get("type", "?")
        for key in policy.required:
            value = policy.find(key, tags)
            if value is None:
                spellings = ", ".join(policy.spellings(key))
                violations.append(
                    Violation(address, module, kind, key, "missing",
                              f"missing required tag '{key}' (accepted keys: {spellings})")
                )  # fmt: skip
            elif policy.invalid(key, value):
                allowed = ", ".join(policy.key(key).allowed or [])
                violations.append(
                    Violation(address, module, kind, key, "invalid",
                              f"tag '{key}' has value '{value}', not one of: {allowed}")
                )  # fmt: skip
    return PlanCheck(path, checked, violations)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(violation: Violation, file: str) -> str:
    """One GitHub Actions workflow command.

    >>> v = Violation("module.app.aws_s3_bucket.logs", "module.app", "aws_s3_bucket", "team",
    ...               "missing", "missing required tag 'team'")
    >>> github_annotation(v, "plan.json")
    "::error file=plan.json,title=Tag policy%3A module.app.aws_s3_bucket.logs::missing required tag 'team'"
    """
    title = _escape_property(f"Tag policy: {violation.address}")
    return f"::error file={_escape_property(file)},title={title}::{_escape_data(violation.message)}"
