"""Billing formats. Each module defines one `Converter` subclass, which registers itself."""

from cloudtally.ingest.formats import (  # noqa: F401  (each module registers its converter)
    aws_cur,
    aws_cur2,
    azure,
    focus,
    focus_contract_commitment,
    gcp,
    oci,
    opencost,
)
from cloudtally.ingest.formats.base import (
    Converter,
    detect_converter,
    find_converter,
    get_converter,
)

__all__ = ["Converter", "detect_converter", "find_converter", "get_converter"]
