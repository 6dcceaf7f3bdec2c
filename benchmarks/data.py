"""The data the benchmarks run on: a generated company's month merged into one FOCUS 1.2
export of about N rows, as Parquet and as gzip CSV (cached under benchmarks/data/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from _common import DATA

from cloudtally.sample.generator import BENCHMARK_SCALE, generate_sample


def benchmark_export(rows: int, fmt: str) -> tuple[Path, int]:
    """One export file of about `rows` rows in `fmt` (parquet or csv.gz), and its row count."""
    target = DATA / f"focus-{rows}.{fmt}"
    if not target.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        parts = DATA / f"parts-{rows}-{fmt}"
        shutil.rmtree(parts, ignore_errors=True)
        scale = BENCHMARK_SCALE * rows / 10_000_000
        generate_sample(parts, months=1, scale=scale, fmt="parquet" if fmt == "parquet" else "csv")
        con = duckdb.connect(config={"memory_limit": "2GB"})
        con.execute("SET preserve_insertion_order = false")
        if fmt == "parquet":
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{parts}/*/*.parquet')) TO '{target}.tmp' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
        else:
            # Text kept as generated (all VARCHAR), one header, gzip.
            con.execute(
                f"COPY (SELECT * FROM read_csv('{parts}/*/*.csv', all_varchar = true)) "
                f"TO '{target}.tmp' (FORMAT csv, HEADER true, COMPRESSION gzip)"
            )
        Path(f"{target}.tmp").rename(target)
        shutil.rmtree(parts, ignore_errors=True)
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    count = duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{target}')").fetchall()[0][0]
    return target, int(count)
