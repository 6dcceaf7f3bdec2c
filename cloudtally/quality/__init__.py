"""Data quality of the cost lake: `cloudtally check` and the checks behind it."""

from __future__ import annotations

# The check modules register their checks when imported, store checks first: the registry's
# order is the order of the report and of `cloudtally check --help`.
from cloudtally.quality import store_checks  # noqa: F401
from cloudtally.quality.checks import (
    Check,
    CheckResult,
    Finding,
    Level,
    QualityReport,
    get_check,
    run_checks,
)
from cloudtally.quality.focus_checks import FocusRule, focus_rules

# isort: split
# Checks that live with the part of the package whose invariant they guard (registered last).
from cloudtally.commitments import amortization  # noqa: F401

__all__ = [
    "Check",
    "CheckResult",
    "Finding",
    "FocusRule",
    "Level",
    "QualityReport",
    "focus_rules",
    "get_check",
    "run_checks",
]
