"""A lake in an object store against the same lake in a local folder.

The store is moto's S3 server on 127.0.0.1 (no network latency: a request costs what the
server and the client libraries spend on it), so the figures show cloudtally's own overhead
on an object store: the requests it makes and the time they take. Against real S3 add ~10-30 ms
per request (same region): the request counts are the figure that carries over.

Figures: wall time of `ingest` of the generated company (6 months), `allocate`, and
`costs --by service` (median of 3), on the local folder and on s3://; the ratio of each; the
S3 requests each command made (GET/HEAD/PUT/LIST/DELETE, from the server's log). Reference:
the same command on the local lake. Then the exports themselves in S3: `ingest s3://...` into
a new local lake (reference: the same ingest of the local folder), and again, unchanged (no
export fetched: the manifest records each object's ETag).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import DATA, PYTHON, save

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "rules"
REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|DELETE) ')


def main() -> None:
    exports = DATA / "object-store-company"
    if not exports.exists():
        subprocess.run(
            [
                PYTHON,
                "-m",
                "cloudtally",
                "--data-dir",
                str(DATA / "unused"),
                "sample",
                str(exports),
                "--months",
                "6",
                "--scale",
                "1",
                "--seed",
                "42",
            ],
            check=True,
            capture_output=True,
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = Path(tempfile.mkdtemp()) / "s3.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=sink,
        )
    try:
        _wait(port)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "CLOUDTALLY_CACHE_DIR": tempfile.mkdtemp(),
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        ).create_bucket(Bucket="bench")
        local = Path(tempfile.mkdtemp()) / "lake"
        remote = "s3://bench/lake"
        steps = {
            "ingest": ["ingest", str(exports)],
            "allocate": ["allocate", "--rules", str(RULES)],
            "costs_by_service": ["costs", "--by", "service"],
        }
        result: dict[str, object] = {}
        for name, args in steps.items():
            runs = 3 if name == "costs_by_service" else 1
            here = statistics.median(_timed(local, args, env) for _ in range(runs))
            before = _requests(log)
            there = statistics.median(_timed(remote, args, env) for _ in range(runs))
            made = _requests(log) - before
            result[f"{name}_local_seconds"] = round(here, 3)
            result[f"{name}_s3_seconds"] = round(there, 3)
            result[f"{name}_ratio_to_local"] = round(there / here, 2)
            result[f"{name}_s3_requests"] = {k: v // runs for k, v in sorted(made.items())}
            print(
                f"{name}: local {here:.2f} s, s3 {there:.2f} s ({there / here:.2f}x), "
                f"requests {dict(made)}",
                flush=True,
            )
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        for path in sorted(p for p in exports.rglob("*") if p.is_file()):
            client.upload_file(str(path), "bench", f"exports/{path.relative_to(exports)}")
        from_s3 = Path(tempfile.mkdtemp()) / "lake"
        for name in ("ingest_exports_from_s3", "ingest_exports_from_s3_unchanged"):
            before = _requests(log)
            seconds = _timed(from_s3, ["ingest", "s3://bench/exports/"], env)
            made = _requests(log) - before
            reference = result["ingest_local_seconds"]
            assert isinstance(reference, float)
            result[f"{name}_seconds"] = round(seconds, 3)
            result[f"{name}_ratio_to_local_ingest"] = round(seconds / reference, 2)
            result[f"{name}_s3_requests"] = dict(sorted(made.items()))
            print(
                f"{name}: {seconds:.2f} s ({seconds / reference:.2f}x the local folder's), "
                f"requests {dict(made)}",
                flush=True,
            )
        rows = subprocess.run(
            [
                PYTHON,
                "-m",
                "cloudtally",
                "--data-dir",
                str(local),
                "sql",
                "SELECT count(*) AS n FROM costs",
                "-f",
                "csv",
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.split()[-1]
        save("object_store", {"rows": int(rows), **result})
    finally:
        server.terminate()
        server.wait()


def _wait(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the S3 server did not start")


def _timed(lake: Path | str, args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "cloudtally", "--data-dir", str(lake), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} on {lake} failed:\n{done.stderr}")
    return time.perf_counter() - start


def _requests(log: Path) -> Counter[str]:
    return Counter(m.group(1) for m in REQUEST.finditer(log.read_text()))


if __name__ == "__main__":
    main()
