"""The error tree. Every error a user can cause is a CloudtallyError whose message says
what failed, where (file, row, column) and what to do; the CLI prints it without a traceback."""

from __future__ import annotations


class CloudtallyError(Exception):
    """Root of every error cloudtally raises on purpose."""


class IngestError(CloudtallyError, ValueError):
    """A billing file cannot be read or converted."""


class StoreError(CloudtallyError):
    """The cost lake is missing, locked or inconsistent."""


class QueryError(CloudtallyError, ValueError):
    """A query is invalid or not allowed (for example a write through `cloudtally sql`)."""


class UnsupportedError(CloudtallyError, NotImplementedError):
    """A format, version or feature cloudtally does not handle, named out loud."""


class ExportError(CloudtallyError):
    """An export cannot be written."""


class OtherDatasetError(UnsupportedError):
    """A file of a known kind that is not cost and usage data (skipped inside a folder)."""


class RuleError(CloudtallyError, ValueError):
    """A rule file (allocation, tag policy, monitors, budgets) is invalid."""
