"""Billing formats. Each module defines one `Converter` subclass, which registers itself."""

from cloudtally.ingest.formats import aws_cur, aws_cur2, focus  # noqa: F401  (register converters)
from cloudtally.ingest.formats.base import Converter, detect_converter, get_converter

__all__ = ["Converter", "detect_converter", "get_converter"]
