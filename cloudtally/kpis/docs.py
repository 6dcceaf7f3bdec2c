"""Documentation that cannot rot: the runbooks and definitions the practice needs exist, and
every `cloudtally ...` command line they show names commands and options the CLI has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

REQUIRED_DOCS = (
    "runbooks/anomaly-triage.md",
    "runbooks/month-end-close.md",
    "runbooks/tag-remediation.md",
    "runbooks/deep-dive-request.md",
    "queries.md",
    "reconcile.md",
    "unit-economics.md",
)
_CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.S)


def command_lines(text: str) -> list[str]:
    """The `cloudtally ...` command lines in a Markdown text's code.

    >>> command_lines("Run `cloudtally costs --by team` then\\n```sh\\ncloudtally check\\n```")
    ['cloudtally costs --by team', 'cloudtally check']
    """
    found = []
    for block, inline in _CODE.findall(text):
        for line in (block or inline).splitlines():
            at = line.find("cloudtally ")
            if at >= 0 and not line[:at].strip().endswith(("/", ".", "-")):
                found.append(line[at:].split("#")[0].split("|")[0].strip())
    return found


def problems_in(line: str, app: click.Group) -> list[str]:
    """What in one command line the CLI does not have (empty: the line is current)."""
    try:
        words = shlex.split(line)[1:]
    except ValueError:
        words = line.split()[1:]
    command: click.Command = app
    problems = []
    options = {o for p in app.params for o in getattr(p, "opts", [])}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name = word.split("=")[0]
            if name not in options and name not in ("-h", "--help"):
                problems.append(f"`{line}`: {command.name} has no option {name}")
            i += 1
            continue
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
            options = {o for p in command.params for o in getattr(p, "opts", [])}
            options |= {o for p in command.params for o in getattr(p, "secondary_opts", [])}
        elif isinstance(command, click.Group) and not word.isupper() and word.isidentifier():
            problems.append(f"`{line}`: no command {word!r} under {command.name}")
            break
        i += 1
    return problems


def documentation_problems(docs_dir: Path) -> dict[str, list[str]]:
    """Per required document: why it is not complete and current (missing, stale lines)."""
    from cloudtally.cli import app

    found: dict[str, list[str]] = {}
    for name in REQUIRED_DOCS:
        path = docs_dir / name
        if not path.is_file():
            found[name] = [f"{path} does not exist"]
            continue
        stale = [
            p
            for line in command_lines(path.read_text(encoding="utf-8"))
            for p in problems_in(line, app)
        ]
        if stale:
            found[name] = stale
    return found
