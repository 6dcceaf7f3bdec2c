from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from cloudtally.errors import RuleError
from cloudtally.rules import load_model


class Pool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    share: float


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pools: list[Pool] = []


def test_every_problem_is_reported_with_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(
        "pools:\n  - name: platform\n    shaer: 0.5\n  - name: support\n    share: lots\n"
    )
    with pytest.raises(RuleError) as caught:
        load_model(path, Rules)
    assert str(caught.value) == (
        f"3 problems in {path}:\n"
        f"  {path}:2: pools.0.share: Field required\n"
        f"  {path}:3: pools.0.shaer: unknown key (check its spelling)\n"
        f"  {path}:5: pools.1.share: Input should be a valid number, unable to parse string as a number"
    )


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pools:\n  - name: [unclosed\n")
    with pytest.raises(RuleError, match=r"bad.yaml:3: not valid YAML"):
        load_model(path, Rules)


def test_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("pools:\n  - name: platform\n    share: 0.5\n")
    assert load_model(path, Rules).pools == [Pool(name="platform", share=0.5)]


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 10)}]\n" for n in range(8)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pools: " + "[" * 5000 + "]" * 5000 + "\n", "1: nested deeper than 40 levels; a rule file needs a few"),
        ("pools:\n" + "".join("  " * n + "- \n" for n in range(1, 60)), "41: nested deeper than 40 levels; a rule file needs a few"),
        (BILLION_LAUGHS, "6: aliases expand to more than 200,000 values; write the values out"),
        ("pools: &p [*p]\n", "1: an alias refers to the value that contains it"),
    ],
)  # fmt: skip
def test_hostile_yaml_is_refused_with_a_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    with pytest.raises(RuleError) as caught:
        load_model(path, Rules)
    assert str(caught.value) == f"1 problem in {path}:\n  {path}:{message}"


def test_a_key_given_twice_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("pools:\n  - name: platform\n    share: 0.5\n    share: 0.7\n")
    with pytest.raises(RuleError) as caught:
        load_model(path, Rules)
    assert str(caught.value) == (
        f"1 problem in {path}:\n  {path}:4: pools.0.share: given twice (also on line 3); keep one"
    )


def test_nan_and_infinity_are_not_numbers_in_monitors(tmp_path: Path) -> None:
    from cloudtally.anomaly.config import load_monitors

    path = tmp_path / "monitors.yaml"
    path.write_text("defaults:\n  thresholds: {z: .inf, min_impact: .nan}\n")
    with pytest.raises(RuleError) as caught:
        load_monitors(path)
    assert str(caught.value) == (
        f"2 problems in {path}:\n"
        f"  {path}:2: defaults.thresholds.z: Input should be a finite number\n"
        f"  {path}:2: defaults.thresholds.min_impact: Input should be a finite number"
    )
