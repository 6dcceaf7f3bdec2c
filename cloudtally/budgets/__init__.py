"""Budgets as code: `rules/budgets.yaml` (`config.py`), where each budget stands in a month
(`status.py`), and alerts through the anomaly destinations (`notify.py`)."""
