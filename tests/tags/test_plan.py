"""Malformed Terraform plans get one message naming the file and the place, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudtally.cli import app
from tests.tags.test_tags import EXAMPLE_RULES

CHANGE = {
    "address": "aws_s3_bucket.logs",
    "mode": "managed",
    "type": "aws_s3_bucket",
    "change": {"actions": ["create"], "after": {"tags": {"team": "web"}}, "after_unknown": {}},
}


def check(tmp_path: Path, content: str | bytes) -> tuple[int, str]:
    plan = tmp_path / "plan.json"
    if isinstance(content, bytes):
        plan.write_bytes(content)
    else:
        plan.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["tags", "check-plan", str(plan), "--rules", str(EXAMPLE_RULES)]
    )
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.output.replace(str(plan), "PLAN")


def plan_with(*changes: object, **top: object) -> str:
    return json.dumps({"format_version": "1.2", "resource_changes": list(changes), **top})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            plan_with(resource_changes={"a": 1}),
            "PLAN: resource_changes: expected an array, found an object",
        ),
        (plan_with("aws_s3_bucket.logs"), "PLAN: resource_changes[0]: expected an object, found a string"),
        (
            plan_with(CHANGE, {**CHANGE, "change": {"actions": ["create"], "after": [1, 2]}}),
            "PLAN: resource_changes[1].change.after: expected an object, found an array",
        ),
        (
            plan_with({**CHANGE, "change": {"actions": "create"}}),
            "PLAN: resource_changes[0].change.actions: expected an array, found a string",
        ),
        (
            plan_with({**CHANGE, "address": 7}),
            "PLAN: resource_changes[0].address: expected a string, found a number",
        ),
    ],
)  # fmt: skip
def test_a_plan_of_the_wrong_shape_names_the_place(
    tmp_path: Path, content: str, message: str
) -> None:
    code, out = check(tmp_path, content)
    assert code == 1
    assert out == f"Error: {message}; is this `terraform show -json` output?\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "PLAN: JSON nested too deeply to be a Terraform plan; use `terraform show -json`."),
        (b"\xff\xfe{}", "PLAN: not UTF-8 text; use `terraform show -json`, not the binary plan."),
        ('{"format_version": "1.2",\n "resource_changes": [NaN', "PLAN:2: not JSON (Expecting ',' delimiter); use `terraform show -json`, not the binary plan."),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_plan_gets_a_message(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    code, out = check(tmp_path, content)
    assert code == 1
    assert out == f"Error: {message}\n"


def test_a_folder_is_not_a_plan(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["tags", "check-plan", str(tmp_path), "--rules", str(EXAMPLE_RULES)]
    )
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {tmp_path}: a folder, not a plan file.\n",
    )
