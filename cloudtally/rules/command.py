"""`cloudtally rules check`: every file of a rules folder checked at once (for CI)."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import rules_option
from cloudtally.output import echo


@click.group("rules")
def rules() -> None:
    """Rules as code: check a rules folder before it is used."""


@rules.command("check")
@rules_option("The rules folder to check (see docs/rules.md).")
def check(rules_dir: Path) -> None:
    """Check every file of a rules folder, schema and cross-references.

    tags.yaml, allocation.yaml, mappings/*.csv, the metric files pools name and monitors.yaml:
    exits 1 listing every problem with its file, line and key, so a change to the rules can
    be checked in CI before `allocate` or `anomalies detect` meets it.
    """
    from cloudtally.rules.allocation import load_rules

    ruleset = load_rules(rules_dir)
    files = [name for name in ("tags.yaml", "allocation.yaml") if (rules_dir / name).exists()]
    files += [f"mappings/{name}.csv" for name in ruleset.mappings]
    pools = ruleset.allocation.shared_pools
    files += sorted({p.metric for p in pools if p.metric and p.id in ruleset.metrics})
    if (rules_dir / "monitors.yaml").exists():
        files.append("monitors.yaml")
    echo(f"Rules folder {rules_dir}: {len(files)} file(s), no problems ({', '.join(files)}).")
