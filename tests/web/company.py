"""The generated company as the web tests see it: ingested, allocated with the example rules,
anomalies detected, and three users (an admin, a viewer of payments, a viewer of web and data).
Built once per test session; a test that changes state works on its own copy."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from cloudtally.cli import app
from cloudtally.ingest.pipeline import ingest
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.conftest import ROOT

RULES = ROOT / "examples" / "rules"
MONITORS = ROOT / "tests" / "fixtures" / "monitors" / "sample.yaml"


@dataclass
class Company:
    lake: Path
    tokens: dict[str, str]  # user name -> API token

    def copy(self, target: Path) -> Company:
        shutil.copytree(self.lake, target)
        return Company(target, dict(self.tokens))


def cli(lake: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--data-dir", str(lake), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def build_company(root: Path) -> Company:
    generate_sample(root / "exports", months=4, scale=0.3, seed=42)
    lake = root / "lake"
    ingest(Store(lake), [root / "exports"])
    cli(lake, "allocate", "--rules", str(RULES))
    cli(lake, "anomalies", "detect", "--rules", str(MONITORS), "--since", "2024-09-01")
    tokens = {}
    for name, role, scope in (
        ("alice", "admin", []),
        ("fin", "finops", []),
        ("pat", "viewer", ["--team", "payments"]),
        ("wendy", "viewer", ["--team", "web", "--team", "Data"]),
    ):
        printed = json.loads(cli(lake, "access", "add", name, "--role", role, *scope, "-f", "json"))
        tokens[name] = printed["token"]
    return Company(lake, tokens)
