"""Billing formats. Each module defines one `Converter` subclass, which registers itself."""

from cloudtally.ingest.formats import focus  # noqa: F401  (registers the converter)
from cloudtally.ingest.formats.base import Converter, detect_converter, get_converter

__all__ = ["Converter", "detect_converter", "get_converter"]
