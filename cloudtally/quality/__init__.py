"""Data quality of the cost lake: `cloudtally check` and the checks behind it."""

from __future__ import annotations

from cloudtally.quality.checks import (
    Check,
    CheckResult,
    Finding,
    FocusRule,
    Level,
    QualityReport,
    focus_rules,
    get_check,
    run_checks,
)

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
