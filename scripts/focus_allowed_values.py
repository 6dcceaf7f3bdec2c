"""Write cloudtally/focus/focus_allowed_values.tsv from a checkout of the FOCUS specification.

Usage: python scripts/focus_allowed_values.py PATH_TO_FOCUS_SPEC_GIT_CHECKOUT

For each released version (its git tag), every column file whose "Value format" is "Allowed
values" has a table of them under "Allowed values:"; its value column is the one headed
`Value`, or `Service Subcategory` / `Service Category` for those two columns. The FOCUS
specification is published by the FinOps Foundation under CC-BY-4.0.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

TAGS = {"1.0": "v1.0", "1.1": "v1.1", "1.2": "v1.2"}
OUT = Path(__file__).resolve().parent.parent / "cloudtally" / "focus" / "focus_allowed_values.tsv"
# The header of the value column, by column file; `Value` for every other file.
VALUE_HEADER = {"servicecategory": "Service Category", "servicesubcategory": "Service Subcategory"}


def git(spec: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(spec), *args], capture_output=True, text=True, check=True
    ).stdout


def allowed_values(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == "Allowed values:")
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    index = table[0].index(header)
    return [row[index] for row in table[2:]]


def column_id(text: str) -> str:
    lines = text.splitlines()
    n = next(n for n, line in enumerate(lines) if line.strip() == "## Column ID")
    return next(line.strip() for line in lines[n + 1 :] if line.strip())


def main(spec: Path) -> None:
    rows = []
    for version, tag in TAGS.items():
        files = git(spec, "ls-tree", "-r", "--name-only", tag, "specification/columns").split()
        for path in sorted(f for f in files if f.endswith(".md")):
            text = git(spec, "show", f"{tag}:{path}")
            if "Allowed values:" not in text:
                continue
            stem = Path(path).stem
            for value in allowed_values(text, VALUE_HEADER.get(stem, "Value")):
                rows.append((version, column_id(text), value, f"FOCUS_Spec@{tag}:{path}"))
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["version", "column", "value", "source"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} allowed values to {OUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
