"""Running the FinOps Foundation's `focus-validator` (2.2.1, Python >= 3.12, own venv) and
reading its verdict. It exits 0 even when rules fail, so the summary and FAIL lines are parsed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cloudtally.errors import CloudtallyError

SUMMARY = re.compile(
    r"^Total: (?P<total>\d+) \| Pass: (?P<passed>\d+) \| Fail: (?P<failed>\d+) \| "
    r"Skipped: (?P<skipped>\d+)$",
    re.M,
)
FAIL_LINE = re.compile(r"^(?:\u274c|\[FAIL\]) (?P<rule>[A-Za-z]+-[A-Z]-\d{3}-[A-Z]): FAIL", re.M)
DETAIL = re.compile(
    r"^- (?P<rule>[A-Za-z]+-[A-Z]-\d{3}-[A-Z]): violations=(?P<violations>\d+|\?); (?P<message>.*)$",
    re.M,
)

# Rules focus-validator 2.2.1 fails on any data: InvoiceId-C-004-C has no condition, so every
# non-null InvoiceId violates it.
VALIDATOR_QUIRKS = {
    "InvoiceId-C-004-C": "rule has no condition in 2.2.1; fails any non-null InvoiceId"
}


class ValidatorError(CloudtallyError):
    pass


@dataclass
class ValidatorResult:
    total: int
    passed: int
    failed: int
    skipped: int
    failures: dict[str, str] = field(default_factory=dict)  # rule id -> message
    output: str = ""


def default_validator() -> Path | None:
    """The validator executable: $CLOUDTALLY_FOCUS_VALIDATOR, else the project's venv."""
    configured = os.environ.get("CLOUDTALLY_FOCUS_VALIDATOR")
    if configured:
        return Path(configured)
    here = Path(__file__).resolve().parents[2] / ".venv-validator" / "bin" / "focus-validator"
    return here if here.exists() else None


def run_validator(data_file: Path, executable: Path, version: str = "1.2") -> ValidatorResult:
    """Validate one CSV or Parquet file against a FOCUS version's rules."""
    package = subprocess.run(
        [str(executable.parent / "python"), "-c",
         "import focus_validator, os; print(os.path.dirname(focus_validator.__file__))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="focus-validator-") as work:
        # It opens focus_validator/rules/currency_codes.csv relative to the working directory.
        rules = Path(work) / "focus_validator" / "rules"
        rules.mkdir(parents=True)
        (rules / "currency_codes.csv").symlink_to(Path(package) / "rules" / "currency_codes.csv")
        done = subprocess.run(
            [str(executable), "--data-file", str(data_file.resolve()),
             "--validate-version", version, "--block-download"],
            cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )  # fmt: skip
    summary = SUMMARY.search(done.stdout)
    if done.returncode != 0 or summary is None:
        raise ValidatorError(
            f"focus-validator failed on {data_file} (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-800:]}"
        )
    failures = {m["rule"]: m["message"] for m in DETAIL.finditer(done.stdout)}
    for rule in FAIL_LINE.findall(done.stdout):
        failures.setdefault(rule, "")
    result = ValidatorResult(
        total=int(summary["total"]),
        passed=int(summary["passed"]),
        failed=int(summary["failed"]),
        skipped=int(summary["skipped"]),
        failures=failures,
        output=done.stdout,
    )
    if result.failed != len(failures):
        raise ValidatorError(
            f"focus-validator reported {result.failed} failures but listed {len(failures)}."
        )
    return result
