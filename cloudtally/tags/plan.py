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
    """A Terraform JSON plan as a dict; any other file is a RuleError naming file and place."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError(
            f"{path}: no such plan file; write one with `terraform show -json plan.out > {path.name}`."
        ) from None
    except IsADirectoryError:
        raise RuleError(f"{path}: a folder, not a plan file.") from None
    except UnicodeDecodeError:
        raise RuleError(
            f"{path}: not UTF-8 text; use `terraform show -json`, not the binary plan."
        ) from None
    except OSError as exc:
        raise RuleError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(
            f"{path}:{exc.lineno}: not JSON ({exc.msg}); use `terraform show -json`, not the binary plan."
        ) from None
    except RecursionError:
        raise RuleError(
            f"{path}: JSON nested too deeply to be a Terraform plan; use `terraform show -json`."
        ) from None
    if not isinstance(plan, dict) or (
        "resource_changes" not in plan and "format_version" not in plan
    ):
        raise RuleError(
            f"{path}: not a Terraform JSON plan (no format_version or resource_changes)."
        )
    return plan


_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "true or false"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return next((name for t, name in _KINDS.items() if isinstance(value, t)), "a number")


class _Reader:
    """Typed access to a plan's JSON; a value of the wrong type is a RuleError naming the
    file and the place (`resource_changes[3].change.after`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, value: Any, key: str, where: str, expected: type | tuple[type, ...]) -> Any:
        """`value[key]` (None when absent or null) checked against `expected`."""
        found = value.get(key)
        if found is None or isinstance(found, expected):
            return found
        wanted = expected if isinstance(expected, tuple) else (expected,)
        names = " or ".join(_KINDS[t] for t in wanted)
        raise RuleError(
            f"{self.path}: {f'{where}.' if where else ''}{key}: expected {names}, found {_kind(found)}; is this "
            "`terraform show -json` output?"
        )


def _tags_of(after: dict[str, Any], unknown: dict[str, Any] | bool) -> dict[str, str] | None:
    """The tags a resource will have, or None when it does not take tags."""
    unknown = unknown if isinstance(unknown, dict) else {}
    takes_tags = False
    for attribute in TAG_ATTRIBUTES:
        if attribute in after or attribute in unknown:
            takes_tags = True
        value = after.get(attribute)
        if isinstance(value, dict) and unknown.get(attribute) is not True:
            return {
                str(k): "" if v is None else v if isinstance(v, str) else json.dumps(v)
                for k, v in value.items()
            }
    return {} if takes_tags else None


def check_plan(path: Path, policy: TagPolicy) -> PlanCheck:
    """Every created or updated resource missing a required key or with a value not allowed."""
    plan = load_plan(path)
    read = _Reader(path)
    violations: list[Violation] = []
    checked = 0
    for n, change in enumerate(read.get(plan, "resource_changes", "", list) or []):
        where = f"resource_changes[{n}]"
        if not isinstance(change, dict):
            raise RuleError(
                f"{path}: {where}: expected an object, found {_kind(change)}; is this "
                "`terraform show -json` output?"
            )
        if (read.get(change, "mode", where, str) or "managed") != "managed":
            continue
        details = read.get(change, "change", where, dict) or {}
        actions = read.get(details, "actions", f"{where}.change", list) or []
        if not CHECKED_ACTIONS & {a for a in actions if isinstance(a, str)}:
            continue
        after = read.get(details, "after", f"{where}.change", dict) or {}
        unknown = read.get(details, "after_unknown", f"{where}.change", (dict, bool)) or {}
        tags = _tags_of(after, unknown)
        if tags is None:
            continue
        checked += 1
        address = read.get(change, "address", where, str) or "?"
        module = read.get(change, "module_address", where, str)
        kind = read.get(change, "type", where, str) or "?"
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
