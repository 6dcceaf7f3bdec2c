"""`cloudtally serve` on the 10M-row lake left by bench_ingest.py: latency of the API and the
pages through a real HTTP server on 127.0.0.1, as an admin and as a viewer scoped to a team.

Figure: p50 and p95 per endpoint over REPEATS requests (after a first request, timed on its
own: what the first viewer after an ingest waits), and the p95 over all of them. The server
runs its warmer as `cloudtally serve` does (the time it takes after start is printed);
`--cold` turns it off, so the first requests pay for loading the generation. The lake should be allocated (bench_allocate.py): the allocation
publishes the daily cubes the pages read (query/cube.py); on a lake that is not, the
allocation pages are skipped. Reference: the same query function called in-process (so the ratio is
what the web layer adds). Target: p95 under 300 ms.

    python benchmarks/bench_web.py [--lake DATA_DIR] [--cold]   (default: benchmarks/data/bench-lake)
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
from pathlib import Path

from _common import DATA, save

REPEATS = 15
TARGET_MS = 300
ENDPOINTS = [
    "/api/costs?by=service&period={period}&top=10",
    "/api/costs?by=account&period={period}&metric=EffectiveCost&top=10",
    "/api/movers?by=service&period={period}",
    "/api/showback?by=team&period={period}",
    "/api/anomalies?status=open",
    "/",
    "/explorer?period={period}",
    "/explorer?period={period}&by=service&provider=aws",
    "/allocation?period={period}",
    "/api/tags/coverage?by=team&period={period}",
    "/tags?period={period}",
    "/kpis?period={period}",
]
# Pages for the admin and finops roles only (a scoped viewer gets 403 by design).
ADMIN_ONLY = ("/kpis",)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    import httpx
    import uvicorn

    from cloudtally.access.users import add_user, find_user, revoke
    from cloudtally.query.costs import grouped_costs
    from cloudtally.query.periods import parse_range
    from cloudtally.store import Store
    from cloudtally.web.app import create_app

    lake = (
        Path(sys.argv[sys.argv.index("--lake") + 1])
        if "--lake" in sys.argv
        else DATA / "bench-lake"
    )
    store = Store(lake)
    period = store.sql("SELECT max(x_BillingPeriod) FROM costs").fetchone()[0]  # type: ignore[index]
    if period is None:
        raise SystemExit("run bench_ingest.py first")
    team = store.sql(
        "SELECT Tags['team'] FROM costs WHERE Tags['team'] IS NOT NULL LIMIT 1"
    ).fetchone()
    tokens = {}
    with store.state() as con:
        for name, role, teams in (
            ("bench-admin", "admin", ()),
            ("bench-viewer", "viewer", (team[0],) if team else ("web",)),
        ):
            if find_user(con, name):
                revoke(con, name)
            tokens[name] = add_user(con, name, role, teams=teams)[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # As `cloudtally serve` runs it: the warmer loads the generation before anyone asks
    # (`--cold`: without it, so the first views pay for the loading).
    cold = "--cold" in sys.argv
    app = create_app(lake, warm=not cold)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    started = time.perf_counter()
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    warmer = app.app.state.warmer
    while not cold and warmer.warmed is None:
        time.sleep(0.05)
    warm_seconds = None if cold else round(time.perf_counter() - started, 2)
    print(f"warm-up after start: {warm_seconds} s", file=sys.stderr)
    figures: dict[str, dict[str, float]] = {}
    every: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for name, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}", "accept": "text/html"}
            for endpoint in ENDPOINTS:
                if name != "bench-admin" and endpoint.startswith(ADMIN_ONLY):
                    continue
                url = endpoint.format(period=period)
                start = time.perf_counter()
                first = client.get(url, headers=headers)  # warm-up: what a first view costs
                first_ms = (time.perf_counter() - start) * 1000
                if first.status_code == 400 and "No allocation yet" in first.text:
                    print(f"{name:13} {url:70} skipped: the lake is not allocated", file=sys.stderr)
                    continue
                times = []
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    response = client.get(url, headers=headers)
                    times.append((time.perf_counter() - start) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(
                            f"{url} as {name}: {response.status_code} {response.text[:300]}"
                        )
                every += times
                figures[f"{name} {url}"] = {
                    "first_ms": round(first_ms),
                    "p50_ms": round(statistics.median(times)),
                    "p95_ms": round(percentile(times, 0.95)),
                }
                print(
                    f"{name:13} {url:70} first {round(first_ms):6} ms  "
                    f"p50 {figures[f'{name} {url}']['p50_ms']:6} ms  "
                    f"p95 {figures[f'{name} {url}']['p95_ms']:6} ms",
                    file=sys.stderr,
                )
    server.should_exit = True
    direct = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        grouped_costs(store, ["service"], when=parse_range(period), top=10)
        direct.append((time.perf_counter() - start) * 1000)
    p95 = percentile(every, 0.95)
    save(
        "web",
        {
            "rows": store.sql("SELECT count(*) FROM costs").fetchone()[0],  # type: ignore[index]
            "period": period,
            "requests_per_endpoint": REPEATS,
            "warmed": not cold,
            "warm_up_seconds": warm_seconds,
            "endpoints": figures,
            "p95_all_ms": round(p95),
            "reference_costs_by_service_in_process_p50_ms": round(statistics.median(direct)),
            "ratio_api_costs_p50_to_in_process": round(
                figures[f"bench-admin {ENDPOINTS[0].format(period=period)}"]["p50_ms"]
                / statistics.median(direct),
                2,
            ),
            "target_p95_ms": TARGET_MS,
            "target_met": p95 < TARGET_MS,
        },
    )


if __name__ == "__main__":
    main()
