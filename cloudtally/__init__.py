"""cloudtally: billing exports into a correct, fast FOCUS cost lake."""

from __future__ import annotations

__version__ = "0.1.0"
