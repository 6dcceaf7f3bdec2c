"""The rules a server reads on every request are parsed once while the folder is unchanged."""

from __future__ import annotations

import os
from pathlib import Path

from cloudtally.rules.allocation import load_rules_cached
from tests.allocate.lake import write_rules


def test_the_rules_are_read_again_only_when_a_file_changes(tmp_path: Path) -> None:
    folder = write_rules(tmp_path / "rules", {"tags.yaml": "required: [team]\n"})
    first = load_rules_cached(folder)
    assert load_rules_cached(folder) is first
    (folder / "tags.yaml").write_text("required: [team, env]\n", encoding="utf-8")
    os.utime(folder / "tags.yaml", ns=(1, 1))  # a new mtime even within the clock's step
    changed = load_rules_cached(folder)
    assert changed is not first and changed.tags.required == ["team", "env"]
    (folder / "allocation.yaml").write_text("rules: []\n", encoding="utf-8")  # a new file
    assert load_rules_cached(folder) is not changed
