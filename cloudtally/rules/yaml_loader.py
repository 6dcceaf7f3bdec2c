"""Load a YAML rule file into a pydantic model, reporting every problem with file, line and
key in one pass (a typo in a key is an error, never ignored: models use extra="forbid")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cloudtally.errors import RuleError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class RuleProblem:
    path: Path
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.key}: {self.message}"


def load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML file and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError(f"{path}: no such rule file.") from None
    except UnicodeDecodeError:
        raise RuleError(f"{path}: not UTF-8 text.") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"{path}:{line}: not valid YAML: {problem}.") from None
    return data, node


def line_of(node: yaml.Node | None, location: tuple[str | int, ...]) -> int:
    """The 1-based line of the value at `location` (a pydantic error loc), best effort."""
    if node is None:
        return 1
    current = node
    for part in location:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            match = next((v for k, v in current.value if k.value == part), None)
            if match is None:
                # An unknown key: point at the key itself.
                key = next((k for k, _ in current.value if k.value == part), None)
                return (key.start_mark.line + 1) if key is not None else current.start_mark.line + 1
            current = match
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            current = current.value[part]
        else:
            break
    return current.start_mark.line + 1


def load_model(path: Path, model: type[M], *, empty_ok: bool = True) -> M:
    """Validate a YAML file against `model`; all problems are raised together."""
    data, node = load_yaml(path)
    if data is None:
        if not empty_ok:
            raise RuleError(f"{path}: the file is empty.")
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = tuple(error["loc"])
            key = ".".join(str(p) for p in location) or "(top level)"
            message = (
                "unknown key (check its spelling)"
                if error["type"] == "extra_forbidden"
                else error["msg"]
            )
            problems.append(RuleProblem(path, line_of(node, location), key, message))
        raise RuleError(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {path}:\n"
            + "\n".join(f"  {p}" for p in problems)
        ) from None
