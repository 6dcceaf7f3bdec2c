"""`allocated_costs` joins back to `costs` on the line key, one to one: direct rows carry their
line's (x_IngestId, x_LineNo), shared rows none, so no line fans out, even one an export
repeats identically."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from cloudtally.allocate.engine import allocate
from cloudtally.ingest.pipeline import ingest
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from tests.allocate.lake import Line, write_focus_csv
from tests.allocate.test_engine import rules_folder

D = Decimal


def test_direct_rows_join_their_line_once(store: Store, tmp_path: Path) -> None:
    export = write_focus_csv(
        tmp_path / "export.csv",
        [
            Line("111", "30", tags={"team": "web"}, resource="i-1"),
            Line("222", "10", resource="i-2"),
            Line("111", "7", service="Support"),  # a shared pool: split by direct cost
            Line("222", "12.5", tags={"team": "data"}, resource="i-3"),
        ],
    )
    text = export.read_text(encoding="utf-8")
    export.write_text(text + text.splitlines()[-1] + "\n", encoding="utf-8")  # a repeated line
    ingest(store, [export])
    allocate(store, load_rules(rules_folder(tmp_path)))

    assert store.sql(
        "SELECT allocation_kind, count(*), count(x_IngestId), count(x_LineNo) "
        "FROM allocated_costs GROUP BY 1 ORDER BY 1"
    ).rows == [("direct", 4, 4, 4), ("shared", 2, 0, 0)]
    joined = store.sql(
        """SELECT c.x_LineNo, a.team, a.BilledCost, c.BilledCost
           FROM allocated_costs a JOIN costs c USING (x_IngestId, x_LineNo)
           ORDER BY 1"""
    ).rows
    # Exactly the direct rows, each with its own line (the repeated line twice, not four times).
    assert joined == [
        (1, "web", D("30"), D("30")),
        (2, "data", D("10"), D("10")),
        (4, "data", D("12.5"), D("12.5")),
        (5, "data", D("12.5"), D("12.5")),
    ]
    # Direct plus shared is the lake's total: nothing fans out, nothing is lost.
    assert store.sql(
        """SELECT (SELECT sum(c.BilledCost) FROM allocated_costs a
                   JOIN costs c USING (x_IngestId, x_LineNo))
                + (SELECT sum(BilledCost) FROM allocated_costs WHERE allocation_kind = 'shared'),
                  (SELECT sum(BilledCost) FROM costs)"""
    ).rows == [(D("72"), D("72"))]
