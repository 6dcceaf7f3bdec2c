"""An ingest of one new account-period into a large lake: what it costs beside the lake's size.

Data: the generated company (`cloudtally sample --months 12 --scale 4.5`: 36 files, one per
provider and billing month, about 2.3M rows). The lake holds every file but the newest AWS
month (35 account-periods); the figure is `cloudtally ingest` of that month (one new
account-period) into a copy of that lake (fresh process, median of --runs).

Reference: the same ingest when the lake's `costs_cube` is written whole, as store format 3
kept it (its catalog entry without parts): the ingest then builds the cube of every
account-period, a scan of the whole lake, which is what every ingest cost before the cube was
kept in parts. Ratio: reference time / figure time (how many times faster).

    python benchmarks/bench_ingest_partition.py [--runs 3] [--scale 4.5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
from pathlib import Path

from _common import DATA, PYTHON, Measure, run, save

MONTHS = 12
NEW = Path("aws") / "2024-10.parquet"  # the newest AWS month: one account-period
SMALL = ("catalog.json", "manifest.jsonl", ".lock")  # written in place or rewritten: copied


def company(scale: float) -> Path:
    """The generated company's files (written once, then reused)."""
    folder = DATA / f"company-{MONTHS}m-scale-{scale:g}"
    if not (folder / NEW).exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(
            [PYTHON, "-m", "cloudtally", "sample", str(folder), "--months", str(MONTHS),
             "--scale", str(scale)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return folder


def rows_of(paths: list[Path]) -> int:
    import duckdb

    listed = ", ".join(f"'{p}'" for p in paths)
    found = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet([{listed}])").fetchone()
    return int(found[0]) if found else 0


def copy_lake(source: Path, target: Path) -> None:
    """A copy of a lake to ingest into: its Parquet files hard-linked (never changed in place),
    the catalog, the manifest and the lock file copied."""
    shutil.rmtree(target, ignore_errors=True)

    def link(src: str, dst: str) -> None:
        if Path(src).name in SMALL:
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)

    shutil.copytree(
        source, target, copy_function=link, ignore=shutil.ignore_patterns("tmp", "staging")
    )


def as_written_whole(lake: Path) -> None:
    """Make the lake's costs_cube look as older versions wrote it: no parts, no cube SQL
    fingerprint (the next ingest rebuilds every part)."""
    path = lake / "catalog.json"
    catalog = json.loads(path.read_text())
    cube = catalog["derived"]["costs_cube"]
    cube["parts"] = []
    cube["parameters"].pop("sql", None)
    path.write_text(json.dumps(catalog))


def ingest(lake: Path, *paths: Path) -> Measure:
    """`cloudtally ingest` of `paths` into `lake` (fresh process)."""
    return run([PYTHON, "-m", "cloudtally", "--data-dir", str(lake), "ingest", "--no-progress",
                *map(str, paths)])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=4.5)
    args = parser.parse_args()
    folder = company(args.scale)
    load = round(os.getloadavg()[0], 1)
    base = sorted(p for p in folder.glob("*/*.parquet") if p.relative_to(folder) != NEW)
    new = folder / NEW
    lake = DATA / "partition-lake"
    shutil.rmtree(lake, ignore_errors=True)
    first = ingest(lake, *base)
    copy = DATA / "partition-lake-copy"
    figure: list[Measure] = []
    reference: list[Measure] = []
    for _ in range(args.runs):  # alternated, so both see the same load
        copy_lake(lake, copy)
        figure.append(ingest(copy, new))
        copy_lake(lake, copy)
        as_written_whole(copy)
        reference.append(ingest(copy, new))
    cube = json.loads((copy / "catalog.json").read_text())["derived"]["costs_cube"]
    shutil.rmtree(copy, ignore_errors=True)
    seconds = statistics.median(m.seconds for m in figure)
    whole = statistics.median(m.seconds for m in reference)
    result = {
        "lake_rows": rows_of(base),
        "lake_account_periods": len(base),
        "new_account_period_rows": rows_of([new]),
        "cube_parts_after": len(cube["parts"]),
        "cube_rows_after": cube["rows"],
        "first_ingest_of_the_lake_seconds": round(first.seconds, 2),
        "first_ingest_of_the_lake_cpu_seconds": round(first.cpu_seconds, 2),
        "ingest_one_account_period_seconds": round(seconds, 2),
        "ingest_one_account_period_seconds_each": [round(m.seconds, 2) for m in figure],
        "ingest_one_account_period_peak_rss_mb": round(max(m.peak_rss_mb for m in figure)),
        "ingest_one_account_period_cpu_seconds": round(
            statistics.median(m.cpu_seconds for m in figure), 2
        ),
        "reference_whole_cube_rebuilt_seconds": round(whole, 2),
        "reference_whole_cube_rebuilt_seconds_each": [round(m.seconds, 2) for m in reference],
        "reference_peak_rss_mb": round(max(m.peak_rss_mb for m in reference)),
        "reference_whole_cube_rebuilt_cpu_seconds": round(
            statistics.median(m.cpu_seconds for m in reference), 2
        ),
        "ratio_reference_to_figure": round(whole / seconds, 2),
        "load_average_before": load,
        "load_average_after": round(os.getloadavg()[0], 1),
    }
    save("ingest_partition", result)


if __name__ == "__main__":
    main()
