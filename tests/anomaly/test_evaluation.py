"""The evaluation harness (benchmarks/bench_anomaly_eval.py) on one small world of each family.

The full figures (5 seeds x 520 series per family) are in docs/anomalies.md; this pins one
world of each so a change to the detector that moves them is seen.
"""

from __future__ import annotations

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from anomaly_worlds import HELD_OUT, PATTERNS, RECURRING, TUNING, make_world
from bench_anomaly_eval import detector_alerts, tally


def test_no_false_alert_lands_on_a_recurring_charge() -> None:
    for shape, seed in ((TUNING, 0), (HELD_OUT, 1000)):
        world = make_world(shape, seed, 20)
        alerts = detector_alerts(world)
        on_charges = [(s, t) for s, t in alerts if world.onset[s] < 0 and world.charge_on[s, t]]
        assert on_charges == [], shape.name
        clean_recurring = sum(
            1 for s, p in enumerate(world.pattern) if p in RECURRING and world.onset[s] < 0
        )
        assert clean_recurring >= 60  # the check above has something to check


def test_one_tuning_world_per_pattern() -> None:
    world = make_world(TUNING, 0, 20)
    figures = tally(world, detector_alerts(world))
    # False alerts per pattern (10 clean series x 120 days each): heavy-tailed noise days,
    # none of them on a recurring charge (above).
    assert {p: figures.false_alerts[p] for p in PATTERNS if figures.false_alerts[p]} == {
        "plain": 2,
        "month-start fee": 2,
        "quarter start": 1,
        "first business day": 1,
        "month-end batch": 2,
        "weekday cycle": 1,
        "migration": 1,
        "late data": 1,
    }
    missed = {p: figures.events[p] - figures.hits[p] for p in PATTERNS}
    assert {p: n for p, n in missed.items() if n} == {
        "month-start fee": 1,
        "anniversary fee": 1,
        "migration": 1,
        "intermittent": 2,
    }
    assert sum(figures.events.values()) == 130
