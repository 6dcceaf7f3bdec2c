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
