"""What other parts of the product add to the monthly pack when the lake or the rules hold
their data: budgets (a headline card, a budget column per team, product and environment, the
budget line of the trend), forecasts (the forecast made at the start of the month, the months
after it, a forecast column per group), commitments and savings (a section).

Each contributor is one function registered in `CONTRIBUTORS`; it reads through the same query
functions as its own commands and adds nothing when it has nothing to say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from markupsafe import escape

from cloudtally.errors import CloudtallyError
from cloudtally.report.monthly import BREAKDOWNS, MonthlyPack
from cloudtally.report.pack import Extras, _csv, money, pct
from cloudtally.results import Result
from cloudtally.store import Store

Contributor = Callable[[Store, MonthlyPack, Path | None, Extras], None]
CONTRIBUTORS: list[Contributor] = []
FORECAST_MONTHS = 3  # months after the pack's shown on the trend
# The columns of the commitment tables that fit a page (data/ holds every column).
UTILIZATION = ["commitment_name", "category", "currency", "committed", "used", "unused"]
UTILIZATION += ["utilization"]
SAVINGS = ["currency", "list_cost", "effective_cost", "total_savings", "waste"]
SAVINGS += ["esr_finops_foundation"]


def contributor(function: Contributor) -> Contributor:
    CONTRIBUTORS.append(function)
    return function


def extras_for(store: Store, pack: MonthlyPack, rules_dir: Path | None) -> Extras:
    extras = Extras()
    for add in CONTRIBUTORS:
        add(store, pack, rules_dir, extras)
    return extras


def table_html(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[str]) -> str:
    """An HTML table of text cells, every value escaped."""
    head = "".join(
        f'<th class="num">{escape(c)}</th>' if c in numeric else f"<th>{escape(c)}</th>"
        for c in columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(v)}</td>' if c in numeric else f"<td>{escape(v)}</td>"
            for c, v in zip(columns, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def table_markdown(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _shown(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return money(Decimal(value))
    if kind == "fraction":
        return pct(float(value))
    return str(value)


def result_table(
    result: Result, names: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]], set[str]]:
    """A query function's result as text cells (the columns `names`, default its table
    columns), money and shares formatted as the pack formats them."""
    if names is None:
        shown = [c for c in result.columns if c.table or c.name == "currency"]
    else:
        shown = [c for c in result.columns if c.name in names]
    at = [result.names.index(c.name) for c in shown]
    rows = [[_shown(row[i], c.kind) for i, c in zip(at, shown, strict=True)] for row in result.rows]
    numeric = {c.name for c in shown if c.kind in ("money", "fraction", "quantity", "count")}
    return [c.name for c in shown], rows, numeric


Part = tuple[str, Result | str] | tuple[str, Result, Sequence[str]]


def add_section(extras: Extras, title: str, parts: list[Part]) -> None:
    """A section of prose and result tables (with the columns named, if given), as HTML and
    Markdown."""
    html, markdown = [], []
    for heading, part, *names in parts:
        if heading:
            html.append(f"<h3>{escape(heading)}</h3>")
            markdown.append(f"### {heading}")
        if isinstance(part, str):
            html.append(f"<p>{escape(part)}</p>")
            markdown.append(part)
        else:
            columns, rows, numeric = result_table(part, names[0] if names else None)
            html.append(table_html(columns, rows, numeric))
            markdown.append(table_markdown(columns, rows))
    extras.sections.append(
        {"title": title, "html": "\n".join(html), "markdown": "\n\n".join(markdown)}
    )


def _everything(scope: Any) -> bool:
    return scope.describe() in ("", "everything")


# Budgets -----------------------------------------------------------------------------------


@contributor
def budgets(store: Store, pack: MonthlyPack, rules_dir: Path | None, extras: Extras) -> None:
    """The month's budgets against actuals (budgets.yaml of the rules folder)."""
    if rules_dir is None or not (Path(rules_dir) / "budgets.yaml").is_file():
        return
    from cloudtally.budgets.command import load_folder
    from cloudtally.budgets.status import budget_status

    plans = load_folder(Path(rules_dir))
    report = budget_status(store, plans, period=pack.period, rules_dir=Path(rules_dir))
    if not report.rows:
        return
    metric = {p.id: p.metric for p in plans.plans}
    whole = {p.id for p in plans.plans if p.parent is None and _everything(p.scope)}
    for row in report.rows:
        if row.budget in whole:
            used = pct(row.used) if row.used is not None else ""
            extras.headline.append(
                {
                    "label": f"Budget: {row.name}, {row.currency}",
                    "value": f"{money(row.actual_to_date)} of {money(row.amount)}",
                    "detail": f"{used} used ({metric[row.budget]}), {row.status}",
                }
            )
    # A budget column for each breakdown row whose group has a budget of its own.
    for word in BREAKDOWNS:
        for plan in plans.plans:
            values = getattr(plan.scope, word, None)
            only = [w for w in plan.scope.ownership() if w != word]
            if values is None or len(values) != 1 or only or plan.scope.describe().count("=") > 1:
                continue
            found = [r for r in report.rows if r.budget == plan.id]
            if not found:
                continue
            row = found[0]
            columns = extras.columns.setdefault(word, [])
            for name in ("budget", "budget used"):
                if name not in columns:
                    columns.append(name)
            extras.cells[(word, values[0], "budget")] = money(row.amount)
            extras.cells[(word, values[0], "budget used")] = (
                pct(row.used) if row.used is not None else ""
            )
    # The trend's budget line: the company-wide budgets (no scope, no parent) per month.
    for currency, points in pack.trend.items():
        line = []
        for period, _ in points:
            amounts = [
                p.amount(period) for p in plans.plans if p.id in whole and p.currency == currency
            ]
            known = [a for a in amounts if a is not None]
            if known:
                line.append((period, sum(known, Decimal(0))))
        if line:
            extras.budget_line[currency] = line
    columns = ["budget", "scope", "budget amount", "actual", "used", "forecast", "status"]
    rows = [
        [
            r.name,
            r.scope,
            money(r.amount),
            money(r.actual_to_date),
            pct(r.used) if r.used is not None else "",
            money(r.forecast),
            r.status,
        ]
        for r in report.rows
    ]
    numeric = {"budget amount", "actual", "used", "forecast"}
    intro = (
        f"Budgets of {pack.period} from budgets.yaml, in {', '.join(sorted({r.currency for r in report.rows}))}"
        f" on each budget's metric ({', '.join(sorted({metric[r.budget] for r in report.rows}))}): "
        f"`cloudtally budgets status --period {pack.period}` gives the same rows. "
        + ("The month is over: the forecast is the actual." if report.complete else "")
    )
    notes = " ".join(report.warnings)
    extras.sections.append(
        {
            "title": "Budgets",
            "html": f"<p>{escape(intro)}</p>"
            + table_html(columns, rows, numeric)
            + (f"<p>{escape(notes)}</p>" if notes else ""),
            "markdown": intro
            + "\n\n"
            + table_markdown(columns, rows)
            + (f"\n\n{notes}" if notes else ""),
        }
    )
    extras.data["budgets.csv"] = _csv(
        [
            "budget",
            "scope",
            "metric",
            "currency",
            "amount",
            "actual_to_date",
            "forecast",
            "lower_80",
            "upper_80",
            "status",
        ],
        [
            (
                r.budget,
                r.scope,
                metric[r.budget],
                r.currency,
                r.amount,
                r.actual_to_date,
                r.forecast,
                r.lower_80,
                r.upper_80,
                r.status,
            )
            for r in report.rows
        ],
    )


# Forecasts ---------------------------------------------------------------------------------


# Days of charges before a month that a forecast made at its start needs to be shown.
FORECAST_HISTORY_DAYS = 28


@contributor
def forecasts(store: Store, pack: MonthlyPack, rules_dir: Path | None, extras: Extras) -> None:
    """The forecast made at the start of the month against the actual, the months after it,
    and a forecast column per team, product and environment."""
    from cloudtally.forecast.query import forecast

    start = date.fromisoformat(pack.period + "-01")
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    try:
        made = forecast(store, [], metric=pack.metric, horizon=0, as_of=start, rules_dir=rules_dir)
    except CloudtallyError:
        return  # no history before the month: nothing to say
    history = (start - made.data_from).days
    if history < FORECAST_HISTORY_DAYS:
        # A few stray days (a credit dated before the first export) are not a history: a
        # number made from them would read as a forecast.
        pack.notes.append(
            f"No forecast made on {start}: the lake holds {history} day(s) of charges before "
            f"it, and a forecast needs {FORECAST_HISTORY_DAYS}."
        )
        made.rows = []
    actual = {
        h.currency: h.effective if pack.metric == "EffectiveCost" else h.billed
        for h in pack.headlines
    }
    rows: list[tuple[Any, ...]] = []
    for row in made.rows:
        extras.forecast_points.setdefault(row.currency, []).append(
            (row.period, row.forecast, row.lower_80, row.upper_80)
        )
        real = actual.get(row.currency)
        error = float((row.forecast - real) / real) if real else None
        extras.headline.append(
            {
                "label": f"Forecast made on {start}, {row.currency}",
                "value": money(row.forecast),
                "detail": f"80% range {money(row.lower_80)} to {money(row.upper_80)}"
                + (f"; actual {money(real)}, off by {error:+.1%}" if error is not None else ""),
            }
        )
        rows.append(
            (
                str(start),
                row.period,
                row.currency,
                row.forecast,
                row.lower_80,
                row.upper_80,
                row.lower_95,
                row.upper_95,
                real,
            )
        )
    try:
        ahead = forecast(
            store,
            [],
            metric=pack.metric,
            horizon=FORECAST_MONTHS,
            as_of=following,
            rules_dir=rules_dir,
        )
    except CloudtallyError:
        ahead = None  # the data does not reach the month's end yet
    if ahead is not None:
        for row in ahead.rows:
            if row.period <= pack.period:
                continue
            extras.forecast_points.setdefault(row.currency, []).append(
                (row.period, row.forecast, row.lower_80, row.upper_80)
            )
            rows.append(
                (
                    str(following),
                    row.period,
                    row.currency,
                    row.forecast,
                    row.lower_80,
                    row.upper_80,
                    row.lower_95,
                    row.upper_95,
                    None,
                )
            )
    for word in BREAKDOWNS:
        if not pack.breakdowns.get(word) or history < FORECAST_HISTORY_DAYS:
            continue
        try:
            grouped = forecast(
                store, [word], metric=pack.metric, horizon=0, as_of=start, rules_dir=rules_dir
            )
        except CloudtallyError:
            continue
        columns = extras.columns.setdefault(word, [])
        if "forecast" not in columns:
            columns.insert(0, "forecast")
        for row in grouped.rows:
            group = None if row.group is None else row.group.get(word)
            extras.cells[(word, group, "forecast")] = money(row.forecast)
    extras.data["forecast.csv"] = _csv(
        [
            "made_on",
            "period",
            "currency",
            "forecast",
            "lower_80",
            "upper_80",
            "lower_95",
            "upper_95",
            "actual",
        ],
        rows,
    )


# Commitments and savings -------------------------------------------------------------------


@contributor
def commitments(store: Store, pack: MonthlyPack, rules_dir: Path | None, extras: Extras) -> None:
    """Commitment utilization and the savings from rates, when the lake holds commitments."""
    from cloudtally.commitments.savings import savings
    from cloudtally.commitments.utilization import utilization

    try:
        used = utilization(store, period=pack.period, by="period")
    except CloudtallyError:
        return
    if not used.rows:
        return
    saved = savings(store, period=pack.period)
    add_section(
        extras,
        "Commitments and savings",
        [
            (
                "",
                f"Reservations, savings plans and committed-use discounts of {pack.period}: "
                f"`cloudtally commitments utilization --period {pack.period}` and `cloudtally "
                f"commitments savings --period {pack.period}` give the same rows.",
            ),
            ("Utilization", used, UTILIZATION),
            ("Savings from rates", saved, SAVINGS),
        ],
    )
    for name, result in (("commitment_utilization.csv", used), ("commitment_savings.csv", saved)):
        extras.data[name] = _csv(result.names, result.rows)
