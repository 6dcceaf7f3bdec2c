"""Load a YAML rule file into a pydantic model, reporting every problem with file, line and
key in one pass (a typo in a key is an error, never ignored: models use extra="forbid").

`Problems` collects problems across the files of a rules folder (schema and semantic), so a
user fixes the folder in one pass: each problem is `file:line: key: message`.

Hostile or broken YAML gets a message, never a traceback or a hang: nesting deeper than
MAX_DEPTH levels and aliases that expand to more than MAX_NODES values (the "billion laughs"
document) are refused before anything is built from them, and so is a key given twice (YAML
would keep the last one silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cloudtally.errors import RuleError

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 40  # rule files nest a handful of levels
MAX_NODES = 200_000  # values after aliases are expanded (a large rule file has a few thousand)


@dataclass(frozen=True)
class RuleProblem:
    path: Path
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.path}:{self.line}:{key} {self.message}"


def summary(where: object, problems: list[str]) -> str:
    """`N problem(s) in WHERE:` and one indented line per problem."""
    count = len(problems)
    return f"{count} problem{'s' if count != 1 else ''} in {where}:\n" + "\n".join(
        f"  {p}" for p in problems
    )


def _depth_problem(path: Path, text: str) -> RuleProblem | None:
    """Nesting deeper than MAX_DEPTH, found from the event stream (the parser keeps its own
    stack; building nodes from such a document would exhaust Python's)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return RuleProblem(
                    path,
                    event.start_mark.line + 1 if event.start_mark else 1,
                    "",
                    f"nested deeper than {MAX_DEPTH} levels; a rule file needs a few",
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return None


def _size_problem(path: Path, root: yaml.Node) -> RuleProblem | None:
    """Aliases that expand to more than MAX_NODES values, or that refer to themselves."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _Cycle(node)
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        sizes[key] = total
        if total > MAX_NODES:
            raise _TooBig(node)
        return total

    try:
        size(root)
    except _Cycle as cycle:
        line = cycle.node.start_mark.line + 1
        return RuleProblem(path, line, "", "an alias refers to the value that contains it")
    except _TooBig as big:
        line = big.node.start_mark.line + 1
        return RuleProblem(
            path,
            line,
            "",
            f"aliases expand to more than {MAX_NODES:,} values; write the values out",
        )
    return None


class _Cycle(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _duplicate_keys(path: Path, root: yaml.Node) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, where: tuple[str, ...]) -> None:
        if id(node) in seen_nodes:  # an alias: checked where it was defined
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and name in first:
                    problems.append(
                        RuleProblem(
                            path,
                            line,
                            ".".join((*where, name)),
                            f"given twice (also on line {first[name]}); keep one",
                        )
                    )
                first.setdefault(name, line)
                walk(value, (*where, name))
        elif isinstance(node, yaml.SequenceNode):
            for n, child in enumerate(node.value):
                walk(child, (*where, str(n)))

    walk(root, ())
    return problems


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None, list[RuleProblem]]:
    """The data of a YAML file, its node tree (for line numbers) and its problems.

    Never raises for what the file holds: a file with problems gives (None, None, problems).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None, [RuleProblem(path, 1, "", "no such rule file")]
    except IsADirectoryError:
        return None, None, [RuleProblem(path, 1, "", "a folder, not a rule file")]
    except UnicodeDecodeError:
        return None, None, [RuleProblem(path, 1, "", "not UTF-8 text")]
    except OSError as exc:
        return None, None, [RuleProblem(path, 1, "", f"cannot be read ({exc.strerror})")]
    loader = yaml.SafeLoader(text)
    try:
        deep = _depth_problem(path, text)
        if deep is not None:
            return None, None, [deep]
        node = loader.get_single_node()
        if node is None:
            return None, None, []
        problem = _size_problem(path, node)
        if problem is not None:
            return None, None, [problem]
        duplicates = _duplicate_keys(path, node)
        if duplicates:
            return None, node, duplicates
        return loader.construct_document(node), node, []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem_text = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, None, [RuleProblem(path, line, "", f"not valid YAML: {problem_text}")]
    finally:
        loader.dispose()


def load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML file and its node tree (for line numbers); problems raise."""
    data, node, problems = read_yaml(path)
    if problems:
        if len(problems) == 1:
            raise RuleError(f"{problems[0]}.")
        raise RuleError(summary(path, [str(p) for p in problems]))
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


class Problems(list[str]):
    """Problems found across the files of a rules folder, each `file:line: key: message`."""

    def add(
        self, path: Path, node: yaml.Node | None, location: tuple[str | int, ...], message: str
    ) -> None:
        key = ".".join(str(p) for p in location)
        self.append(str(RuleProblem(path, line_of(node, location), key, message)))

    def load(
        self, path: Path, model: type[M], *, empty_ok: bool = True
    ) -> tuple[M | None, yaml.Node | None]:
        """Validate a YAML file against `model`; its problems are added, the model is None
        when there are any."""
        data, node, problems = read_yaml(path)
        if problems:
            self.extend(str(p) for p in problems)
            return None, node
        if data is None:
            if not empty_ok:
                self.append(str(RuleProblem(path, 1, "", "the file is empty")))
                return None, node
            data = {}
        try:
            return model.model_validate(data), node
        except ValidationError as exc:
            for error in exc.errors():
                location = tuple(error["loc"])
                message = (
                    "unknown key (check its spelling)"
                    if error["type"] == "extra_forbidden"
                    else error["msg"]
                )
                key = ".".join(str(p) for p in location) or "(top level)"
                self.append(str(RuleProblem(path, line_of(node, location), key, message)))
            return None, node

    def raise_if_any(self, where: object) -> None:
        if self:
            raise RuleError(summary(where, list(self)))


def load_model(path: Path, model: type[M], *, empty_ok: bool = True) -> M:
    """Validate a YAML file against `model`; all problems are raised together."""
    problems = Problems()
    loaded, _ = problems.load(path, model, empty_ok=empty_ok)
    problems.raise_if_any(path)
    assert loaded is not None
    return loaded
