"""Generated docs match the code, and every command and format is documented."""

from __future__ import annotations

import pytest

from cloudtally.cli import app
from cloudtally.docgen import DOCS
from cloudtally.ingest.formats import Converter
from tests.conftest import ROOT


@pytest.mark.parametrize("name", sorted(DOCS))
def test_generated_docs_are_current(name: str) -> None:
    on_disk = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert on_disk == DOCS[name](), f"docs/{name} is stale: run `make docs`"


def test_every_command_and_format_is_documented() -> None:
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in app.commands:  # type: ignore[attr-defined]
        assert f"## cloudtally {command}\n" in cli
    # Subcommands too, each with its own usage line.
    assert "### cloudtally commitments coverage\n" in cli
    assert "Usage: cloudtally commitments coverage [OPTIONS]" in cli
    assert "cloudtally cloudtally" not in cli
    formats = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    for name in Converter.registry:
        assert f"## `{name}`" in formats
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in app.commands:  # type: ignore[attr-defined]
        assert f"cloudtally {command}" in readme, f"README does not show `cloudtally {command}`"
