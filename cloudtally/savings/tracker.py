"""The savings tracker: items in the state database (`state.duckdb`), their lifecycle and
evidence.

An item says what is expected to save money (a title, the cost lines it is about as a scope,
an estimate per month, an owner and a ticket). Its status moves

    identified -> accepted -> implemented -> realized          (rejected from any but realized)

one step at a time; skipping a step needs `force`. The implementation date is what realized
savings are measured from (`measure.py`): they are never copied from the estimate. Every
change is kept in `savings_events`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from cloudtally.errors import CloudtallyError
from cloudtally.store import Store

STATUSES = ("identified", "accepted", "implemented", "realized", "rejected")
ORDER = {"identified": 0, "accepted": 1, "implemented": 2, "realized": 3}

SCHEMA = """
CREATE TABLE IF NOT EXISTS savings_items (
    id VARCHAR PRIMARY KEY,
    title VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,            -- JSON object: key -> value (see scope.py)
    estimate DECIMAL(38,18) NOT NULL,  -- per month, in the lake's currency
    owner VARCHAR,
    ticket VARCHAR,
    status VARCHAR NOT NULL,
    identified_on DATE NOT NULL,
    implemented_on DATE,
    source VARCHAR,                    -- the recommendation it came from, if any
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS savings_events (
    item_id VARCHAR NOT NULL,
    status_to VARCHAR NOT NULL,
    on_date DATE NOT NULL,
    note VARCHAR,
    forced BOOLEAN NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
"""


class SavingsError(CloudtallyError, ValueError):
    """A savings tracker request that cannot be done as asked."""


@dataclass
class Item:
    id: str
    title: str
    scope: dict[str, str]
    estimate: Decimal
    owner: str | None
    ticket: str | None
    status: str
    identified_on: date
    implemented_on: date | None = None
    source: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in duckdb.extract_statements(SCHEMA):
        con.execute(statement.query)


def parse_amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").strip().removesuffix("/month").strip())
    except InvalidOperation:
        raise SavingsError(
            f"--estimate {text!r} is not an amount: give the expected savings per month, "
            "e.g. 1200 or 1200.50."
        ) from None
    if not value.is_finite() or value <= 0:
        raise SavingsError(f"--estimate {text!r} must be a positive amount per month.")
    return value


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SavingsError(f"{option} {text!r} is not a date: use YYYY-MM-DD.") from None


def add(
    con: duckdb.DuckDBPyConnection,
    *,
    title: str,
    scope: dict[str, str],
    estimate: Decimal,
    owner: str | None = None,
    ticket: str | None = None,
    on: date | None = None,
    source: str | None = None,
) -> Item:
    ensure_schema(con)
    if not title.strip():
        raise SavingsError("The item needs a title: say what will save money.")
    numbers = [
        int(r[0][1:])
        for r in con.execute("SELECT id FROM savings_items").fetchall()
        if r[0][1:].isdigit()
    ]
    item_id = f"S{max(numbers, default=0) + 1}"
    day = on or datetime.now(UTC).date()
    con.execute(
        "INSERT INTO savings_items VALUES (?, ?, ?, ?, ?, ?, 'identified', ?, NULL, ?, ?)",
        [item_id, title.strip(), json.dumps(scope), estimate, owner, ticket, day, source,
         datetime.now(UTC)],
    )  # fmt: skip
    _event(con, item_id, "identified", day, None, False)
    return get(con, item_id)


def _event(
    con: duckdb.DuckDBPyConnection,
    item: str,
    status: str,
    day: date,
    note: str | None,
    forced: bool,
) -> None:
    con.execute(
        "INSERT INTO savings_events VALUES (?, ?, ?, ?, ?, ?)",
        [item, status, day, note, forced, datetime.now(UTC)],
    )


def get(con: duckdb.DuckDBPyConnection, item_id: str, *, create: bool = True) -> Item:
    if create:
        ensure_schema(con)
    row = con.execute(
        "SELECT id, title, scope, estimate, owner, ticket, status, identified_on, implemented_on, "
        "source FROM savings_items WHERE id = ?",
        [item_id],
    ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT id FROM savings_items ORDER BY 1").fetchall()]
        listed = ", ".join(known[:10]) if known else "none yet (`cloudtally savings add`)"
        raise SavingsError(f"No savings item {item_id!r}. Items: {listed}.")
    item = Item(
        row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6], row[7], row[8], row[9]
    )
    item.events = [
        {"status": s, "on": d, "note": n, "forced": f}
        for s, d, n, f in con.execute(
            "SELECT status_to, on_date, note, forced FROM savings_events WHERE item_id = ? "
            "ORDER BY recorded_at",
            [item_id],
        ).fetchall()
    ]
    return item


def items(con: duckdb.DuckDBPyConnection, *, create: bool = True) -> list[Item]:
    """Every item, S1 first. `create=False` for a read-only connection that has the tables."""
    if create:
        ensure_schema(con)
    ids = [r[0] for r in con.execute("SELECT id FROM savings_items").fetchall()]
    return [get(con, i, create=create) for i in sorted(ids, key=lambda i: (len(i), i))]


def set_status(
    con: duckdb.DuckDBPyConnection,
    item_id: str,
    status: str,
    *,
    on: date | None = None,
    note: str | None = None,
    force: bool = False,
    measurable: bool | None = None,
) -> Item:
    """Move an item to `status` on a day. Refused (with what to do): an unknown status, a step
    backwards, a skipped step without `force`, a day before the item was identified, and
    `realized` while nothing after the implementation date can be measured."""
    item = get(con, item_id)
    if status not in STATUSES:
        raise SavingsError(f"Status {status!r} is unknown: use {', '.join(STATUSES)}.")
    day = on or datetime.now(UTC).date()
    if day < item.identified_on:
        raise SavingsError(
            f"{item_id} was identified on {item.identified_on}; --on {day} is before that. Give "
            "a date on or after it."
        )
    if item.status == status:
        raise SavingsError(f"{item_id} is already {status}.")
    if item.status in ("realized", "rejected"):
        raise SavingsError(f"{item_id} is {item.status}: its status no longer changes.")
    if status != "rejected":
        now, wanted = ORDER[item.status], ORDER[status]
        if wanted < now:
            raise SavingsError(f"{item_id} is {item.status}: it cannot go back to {status}.")
        if wanted > now + 1 and not force:
            skipped = [s for s, n in ORDER.items() if now < n < wanted]
            raise SavingsError(
                f"{item_id} is {item.status}: going to {status} skips {', '.join(skipped)}. "
                "Run again with --force to confirm."
            )
    implemented: date | None
    if status == "implemented" or (status == "realized" and item.implemented_on is None):
        implemented = day
    else:
        implemented = item.implemented_on
    if status == "realized" and measurable is False:
        raise SavingsError(
            f"{item_id} cannot be realized yet: the lake has no data for its scope after the "
            f"implementation date ({implemented}). Ingest newer data, then measure it with "
            f"`cloudtally savings show {item_id}`."
        )
    con.execute(
        "UPDATE savings_items SET status = ?, implemented_on = ? WHERE id = ?",
        [status, implemented, item_id],
    )
    _event(con, item_id, status, day, note, force and status != "rejected")
    return get(con, item_id)


def read_items(store: Store) -> list[Item]:
    """Every item, read-only (beside other readers of the state database: the scorecard, the
    weekly summary); none when the tracker was never used."""
    with store.reading_state() as path:
        if path is None:
            return []
        con = duckdb.connect(str(path), read_only=True)
        try:
            found = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'savings_items'"
            ).fetchone()
            return items(con, create=False) if found and found[0] else []
        finally:
            con.close()


def evidence_share(store: Store) -> Decimal | None:
    """The share (0-1) of claimed savings (the estimates of implemented and realized items)
    whose item has a before/after measurement, a ticket and an owner; None without claims."""
    from cloudtally.savings.measure import measure
    from cloudtally.savings.report import evidence

    claimed = [i for i in read_items(store) if i.status in ("implemented", "realized")]
    total = sum((i.estimate for i in claimed), Decimal(0))
    if not total:
        return None
    backed = sum(
        (i.estimate for i in claimed if all(evidence(i, measure(store, i)).values())),
        Decimal(0),
    )
    return (backed / total).quantize(Decimal("0.000001"))
