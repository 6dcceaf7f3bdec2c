"""`make demo`: ingest the shipped samples and a generated company, then show what a FinOps
engineer asks first. Each step is the CLI command a user would type, printed before it runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from cloudtally.cli import app

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(".demo")
console = Console()


def step(*args: str, lake: str = "lake", allow_failure: bool = False) -> None:
    data_dir = DEMO_DIR / lake
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    console.print(Rule(f"$ cloudtally --data-dir {data_dir} {shown}", align="left", style="cyan"))
    try:
        app.main(["--data-dir", str(data_dir), *args], standalone_mode=False)
    except SystemExit as exc:  # click's Exit for a non-zero status
        if exc.code not in (0, None) and not allow_failure:
            raise
    except Exception as exc:
        code = getattr(exc, "exit_code", 1)
        if not allow_failure or code not in (0, 1):
            raise
    console.print()


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    samples = ROOT / "samples" / "focus"
    company = DEMO_DIR / "acme"
    console.print("[bold]1. The shipped public samples, reconciled to the last digit[/]\n")
    step("ingest", str(samples / "1.0"), str(samples / "1.2"), lake="samples-lake")
    step(
        "sql",
        "SELECT x_Provider, sum(BilledCost), sum(EffectiveCost) FROM costs GROUP BY 1 ORDER BY 1",
        lake="samples-lake",
    )
    console.print("[bold]2. A generated company: six months of FOCUS 1.2 data[/]\n")
    step("sample", str(company), "--months", "6", "--scale", "1", "--seed", "42")
    step("ingest", str(company))
    step("costs", "--by", "provider")
    step("costs", "--by", "service", "--period", "2024-10", "--top", "10")
    step(
        "costs",
        "--by",
        "account",
        "--period",
        "2024-10",
        "--metric",
        "EffectiveCost",
        "--top",
        "10",
    )
    step("movers", "--by", "service,account", "--period", "2024-10", "--top", "10")
    step("check", "--today", "2024-11-01", allow_failure=True)
    console.print("[bold]3. Who owns the spend: allocation rules as code, showback, tags[/]\n")
    rules = str(ROOT / "examples" / "rules")
    step("allocate", "--rules", rules)
    step("showback", "--by", "team", "--period", "2024-10")
    step("tags", "coverage", "--rules", rules, "--period", "2024-10", "--by", "team")
    step("tags", "coverage", "--rules", rules, "--by", "month")
    console.print("[bold]4. Anomalies, replayed day by day as they would have been found[/]\n")
    monitors = str(ROOT / "examples" / "rules" / "monitors.yaml")
    step(
        "anomalies", "detect", "--rules", monitors, "--since", "2024-08-01", "--until", "2024-10-30"
    )
    step("anomalies", "list", "--status", "open")
    step("explain", "--baseline", "2024-10-05..2024-10-11", "--compare", "2024-10-12..2024-10-14",
         "--by", "service", "--top", "5")  # fmt: skip
    console.print("[bold]5. Commitments: utilization, savings and what expires next[/]\n")
    committed = DEMO_DIR / "acme-commitments"
    step("sample", str(committed), "--months", "3", "--scale", "0.5", "--commitments",
         lake="commitments-lake")  # fmt: skip
    step("ingest", str(committed), lake="commitments-lake")
    step("commitments", "utilization", "--period", "2024-10", lake="commitments-lake")
    step("commitments", "savings", "--by", "provider", "--period", "2024-10",
         lake="commitments-lake")  # fmt: skip
    step("commitments", "expiry", lake="commitments-lake")
    console.print(
        f"The lake is in {DEMO_DIR / 'lake'}: try "
        f'`cloudtally --data-dir {DEMO_DIR / "lake"} sql "SELECT ... FROM costs"`.'
    )


if __name__ == "__main__":
    main()
