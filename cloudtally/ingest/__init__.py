"""Ingest: billing files in, canonical FOCUS rows out. `formats/` holds one converter per
billing format; `pipeline` stages, reconciles and commits them to the store."""
