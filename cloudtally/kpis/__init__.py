"""The FinOps KPI scorecard."""
