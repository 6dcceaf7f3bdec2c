"""What other parts of the product add to the monthly pack when the lake or the rules hold
their data: budgets (a headline card, a budget column per team, the budget line of the trend),
forecasts (the forecast made at the start of the month), commitments and savings (a section).

Each contributor is one function registered in `CONTRIBUTORS`; it reads through the same query
functions as its own commands and adds nothing when it has nothing to say.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cloudtally.report.monthly import MonthlyPack
from cloudtally.report.pack import Extras
from cloudtally.store import Store

Contributor = Callable[[Store, MonthlyPack, Path | None, Extras], None]
CONTRIBUTORS: list[Contributor] = []


def contributor(function: Contributor) -> Contributor:
    CONTRIBUTORS.append(function)
    return function


def extras_for(store: Store, pack: MonthlyPack, rules_dir: Path | None) -> Extras:
    extras = Extras()
    for add in CONTRIBUTORS:
        add(store, pack, rules_dir, extras)
    return extras
