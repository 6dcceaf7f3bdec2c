"""`kpis.yaml`: the targets the FinOps practice is held to (every key optional).

```yaml
unallocated_pct: {target: 5, direction: below}     # % of spend no team owns
tag_coverage_pct: {target: 90, direction: above}   # % of usage cost carrying every required tag
freshness_hours: {target: 48, direction: below}
at_risk_margin: 0.2        # within 20% of the target on the wrong side: at risk, not missed
exception_sla_periods: 1   # a tag exception should be closed within one billing period
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloudtally.rules.yaml_loader import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Strict):
    target: float
    direction: Literal["above", "below"]


def _t(target: float, direction: Literal["above", "below"]) -> Target:
    return Target(target=target, direction=direction)


class KpiTargets(_Strict):
    """Targets with the defaults a FinOps team starts from."""

    unallocated_pct: Target = Field(default_factory=lambda: _t(5, "below"))
    tag_coverage_pct: Target = Field(default_factory=lambda: _t(90, "above"))
    exception_closure_pct: Target = Field(default_factory=lambda: _t(80, "above"))
    anomaly_triage_hours: Target = Field(default_factory=lambda: _t(24, "below"))
    anomaly_false_positive_pct: Target = Field(default_factory=lambda: _t(30, "below"))
    reconciliation_variance_pct: Target = Field(default_factory=lambda: _t(1, "below"))
    pack_timeliness_days: Target = Field(default_factory=lambda: _t(5, "below"))
    weekly_completion_pct: Target = Field(default_factory=lambda: _t(100, "above"))
    savings_throughput_items: Target = Field(default_factory=lambda: _t(3, "above"))
    savings_evidence_pct: Target = Field(default_factory=lambda: _t(90, "above"))
    commitment_checks_pct: Target = Field(default_factory=lambda: _t(100, "above"))
    freshness_hours: Target = Field(default_factory=lambda: _t(48, "below"))
    documentation_pct: Target = Field(default_factory=lambda: _t(100, "above"))
    at_risk_margin: float = 0.2
    exception_sla_periods: int = 1


def load_targets(path: Path | None) -> KpiTargets:
    """The targets of `path` (a kpis.yaml), or the defaults when there is none."""
    if path is None or not path.exists():
        return KpiTargets()
    return load_model(path, KpiTargets)
