"""Warehouse models: cloudtally's logic as a dbt project for the team whose billing data lives
in a warehouse (`cloudtally models --dialect ... --out DIR`)."""

from cloudtally.models.project import DIALECTS, ModelsReport, write_models

__all__ = ["DIALECTS", "ModelsReport", "write_models"]
