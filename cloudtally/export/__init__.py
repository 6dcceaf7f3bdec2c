"""Exports of the lake to other formats (FOCUS datasets)."""
