"""How right are the alerts? The detector against injected anomalies, and against the naive rule.

Realistic daily series (levels spread over orders of magnitude, weekday patterns, month-start
charges, trends, multiplicative heavy-tailed noise, small benign one-offs), half of them clean
and half with one injected anomaly (spike, level shift, slow ramp or brand-new spend). The last
60 days are scored causally. An event is found when an alert on its series falls within 2 days
of its onset; every other alert is a false alert.

    python benchmarks/bench_anomaly_eval.py [--seeds 5] [--series 400]

The naive rule ("today > mean of the last 7 days + x%", with the same dollar floor) is tuned to
the detector's recall: its smallest x that reaches the same recall.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from cloudtally.anomaly.detector import Thresholds, score_days

START = date(2024, 1, 1)
DAYS = 200
SCORED = 60  # the last days, scored
KINDS = ("spike", "level-shift", "ramp", "new-spend")
THRESHOLDS = Thresholds()  # the shipped defaults
HIT_DAYS = 2


@dataclass
class World:
    values: np.ndarray
    onset: np.ndarray  # column of the event, -1 for clean series
    kind: list[str]


def make_world(seed: int, series: int) -> World:
    rng = np.random.default_rng(seed)
    n = series
    days = [START + timedelta(days=k) for k in range(DAYS)]
    weekday = np.array([d.weekday() for d in days])
    month_start = np.array([d.day == 1 for d in days])
    level = np.exp(rng.normal(np.log(400), 1.0, n))  # median $400/day, 5% under $80
    weekend = rng.choice([1.0, 0.8, 0.5, 0.2], n, p=[0.35, 0.3, 0.25, 0.1])
    pattern = np.where(weekday[None, :] >= 5, weekend[:, None], 1.0)
    trend = 1 + rng.normal(0, 0.02, n)[:, None] * np.arange(DAYS)[None, :] / 30
    noise_scale = rng.uniform(0.03, 0.12, n)[:, None]
    # Student-t noise (df 5): heavier tails than real exports usually have.
    noise = np.exp(noise_scale * rng.standard_t(5, (n, DAYS)) * 0.8)
    values = level[:, None] * pattern * trend * noise
    fee = np.where(rng.random(n) < 0.4, rng.uniform(0.5, 4, n) * level, 0.0)
    values += fee[:, None] * month_start[None, :]
    # Benign one-offs: a few +10..25% days per series (a batch job, a backfill).
    benign = rng.random((n, DAYS)) < 0.01
    values *= np.where(benign, rng.uniform(1.1, 1.25, (n, DAYS)), 1.0)

    onset = np.full(n, -1)
    kinds = ["clean"] * n
    for s in range(n // 2, n):
        kind = KINDS[s % len(KINDS)]
        t0 = int(rng.integers(DAYS - SCORED + 3, DAYS - 3))
        onset[s], kinds[s] = t0, kind
        # Anomalies big enough to matter: at least 60% and $100 a day over normal.
        factor = rng.uniform(1.6, 4.0)
        bump = max(factor - 1, 100 / level[s])
        base = level[s] * pattern[s] * trend[s]
        if kind == "spike":
            span = int(rng.integers(1, 4))
            values[s, t0 : t0 + span] += bump * base[t0 : t0 + span]
        elif kind == "level-shift":
            values[s, t0:] += bump * base[t0:]
        elif kind == "ramp":
            ramp = np.clip((np.arange(DAYS) - t0 + 1) / 7, 0, 1)  # full size after a week
            values[s] += bump * base * ramp
        else:  # new spend: the series did not exist before
            values[s, :t0] = np.nan
            values[s, t0:] = max(level[s], 100) * pattern[s, t0:] * noise[s, t0:]
    return World(values, onset, kinds)


def detector_alerts(world: World) -> list[tuple[int, int]]:
    result = score_days(world.values, START, DAYS - SCORED, thresholds=THRESHOLDS)
    return [(d.series, d.onset) for d in result.detections]


def naive_alerts(world: World, pct: float, window: int = 7) -> list[tuple[int, int]]:
    v = np.nan_to_num(world.values)
    alerts = []
    for t in range(DAYS - SCORED, DAYS):
        mean = v[:, t - window : t].mean(axis=1)
        hit = (v[:, t] > mean * (1 + pct)) & (v[:, t] - mean >= THRESHOLDS.min_impact)
        alerts += [(int(s), t) for s in np.flatnonzero(hit)]
    return alerts


def evaluate(world: World, alerts: list[tuple[int, int]]) -> dict[str, float]:
    """Event-level figures. Per event, its first alert at or after onset is a hit when within
    HIT_DAYS days (else late: found, but not in time); any further alert on it is a repeat.
    Alerts before an onset or on a clean series are false. Precision counts repeats as false
    (a person reads them too)."""
    events = {s: t for s, t in enumerate(world.onset) if t >= 0}
    clean_series = sum(1 for t in world.onset if t < 0)
    first: dict[int, int] = {}
    false_clean = false_other = repeats = 0
    for s, t in sorted(alerts, key=lambda a: a[1]):
        onset = events.get(s)
        if onset is None:
            false_clean += 1
        elif t < onset:
            false_other += 1
        elif s in first:
            repeats += 1
        else:
            first[s] = t
    hits = {s: t for s, t in first.items() if t - events[s] <= HIT_DAYS}
    late = len(first) - len(hits)
    total = len(alerts)
    precision = (len(hits) + late) / total if total else 1.0
    recall = len(hits) / len(events)
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "false_per_1000": 1000 * false_clean / (clean_series * SCORED),
        "delay": float(np.mean([hits[s] - events[s] for s in hits])) if hits else float("nan"),
        "late": late,
        "repeats": repeats,
        **{
            f"recall_{k}": float(np.mean([s in hits for s in events if world.kind[s] == k]))
            for k in KINDS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--series", type=int, default=400)
    args = parser.parse_args()
    ours, naive = [], []
    for seed in range(args.seeds):
        world = make_world(seed, args.series)
        mine = evaluate(world, detector_alerts(world))
        ours.append(mine)
        best = None
        for pct in np.arange(0.2, 6.01, 0.05):
            figures = evaluate(world, naive_alerts(world, float(pct)))
            if figures["recall"] >= mine["recall"]:
                best = {**figures, "pct": float(pct)}
        naive.append(best or {**evaluate(world, naive_alerts(world, 0.2)), "pct": 0.2})
    keys = ["precision", "recall", "f1", "false_per_1000", "delay", "late", "repeats"]
    print(
        f"{args.seeds} seeds x {args.series} series ({args.series // 2} with one event), "
        f"{SCORED} days scored each; hit = alert within {HIT_DAYS} days of onset"
    )
    print(f"{'':>28}" + "".join(f"{k:>15}" for k in keys))
    for name, rows in (("cloudtally detector", ours), ("naive mean(7)+x% (matched)", naive)):
        print(f"{name:>28}" + "".join(f"{np.mean([r[k] for r in rows]):>15.3f}" for k in keys))
    print(
        "recall by kind (detector): "
        + ", ".join(f"{k} {np.mean([r['recall_' + k] for r in ours]):.3f}" for k in KINDS)
    )
    chosen = ", ".join(f"{r['pct']:.2f}" for r in naive)
    print(f"naive x% chosen per seed: {chosen}")
    ours_false = np.mean([r["false_per_1000"] for r in ours])
    naive_false = np.mean([r["false_per_1000"] for r in naive])
    ratio = naive_false / ours_false if ours_false else float("inf")
    print(
        f"false alerts per 1,000 clean series-days: detector {ours_false:.3f}, "
        f"naive {naive_false:.3f} -> {ratio:.1f}x fewer"
    )
    recall = np.mean([r["recall"] for r in ours])
    print(
        f"targets: recall >= 0.9: {recall:.3f} {'PASS' if recall >= 0.9 else 'FAIL'}; "
        f"<= 1 false/1,000: {'PASS' if ours_false <= 1 else 'FAIL'}; "
        f">= 5x fewer than naive: {'PASS' if ratio >= 5 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
