"""Every command against a long ingest history: catalog.json (parsed by every command) against
manifest.jsonl (the history, which no query parses).

A lake of the FOCUS 1.0 sample gets a history of N ingests (default 200,000 entries, as a
year of hourly deliveries for a few dozen accounts would give). The same read command,
`cloudtally sql "SELECT count(*) FROM costs"`, runs in fresh processes on: the history inside
catalog.json (store format 2, as before), the history in manifest.jsonl (format 3), and the
reference, the same lake with a one-entry history.

    python benchmarks/bench_catalog.py [--entries 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil

from _common import DATA, PYTHON, ROOT, median_of, run, save

SAMPLE = ROOT / "samples" / "focus" / "1.0" / "focus10_sample_1000.csv"


def lake(name: str, entries: int, *, inside_catalog: bool) -> str:
    """A lake of the sample whose history holds `entries` entries."""
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.store import Store

    folder = DATA / f"bench-catalog-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    store = Store(folder)
    ingest(store, [SAMPLE])
    (entry,) = store.manifest()
    record = json.loads(entry.model_dump_json())
    history = [dict(record, path=f"/exports/delivery-{n}/focus.csv") for n in range(entries)]
    catalog = json.loads(store.catalog_path.read_text())
    if inside_catalog:
        catalog.update(format_version=2, manifest=history)
        catalog.pop("manifest_size", None)
        catalog.pop("manifest_entries", None)
        store.manifest_path.unlink()
    else:
        text = "".join(json.dumps(e) + "\n" for e in history).encode()
        store.manifest_path.write_bytes(text)
        catalog.update(manifest_size=len(text), manifest_entries=entries)
    store.catalog_path.write_text(json.dumps(catalog))
    return str(folder)


def query(folder: str) -> list[str]:
    return [PYTHON, "-m", "cloudtally", "--data-dir", folder, "sql", "SELECT count(*) FROM costs"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        name, entries, inside = args.build
        lake(name, int(entries), inside_catalog=inside == "inside")
        return
    folders = {}
    # Each lake is built in a process of its own: a forked child's peak memory would count
    # the history this process built.
    for name, entries, inside in [
        ("reference", 1, "outside"),
        ("format2", args.entries, "inside"),
        ("format3", args.entries, "outside"),
    ]:
        run([PYTHON, __file__, "--build", name, str(entries), inside])
        folders[name] = str(DATA / f"bench-catalog-{name}")
    figures = {name: median_of(args.runs, lambda f=f: run(query(f))) for name, f in folders.items()}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    reference = figures["reference"].seconds
    save(
        "catalog",
        {
            "history_entries": args.entries,
            "runs": args.runs,
            **{f"{n}_seconds": round(m.seconds, 2) for n, m in figures.items()},
            **{f"{n}_peak_rss_mb": round(m.peak_rss_mb) for n, m in figures.items()},
            "ratio_format2_to_reference": round(figures["format2"].seconds / reference, 2),
            "ratio_format3_to_reference": round(figures["format3"].seconds / reference, 2),
        },
    )


if __name__ == "__main__":
    main()
