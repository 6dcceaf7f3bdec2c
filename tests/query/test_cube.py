"""The daily cubes give the lake's numbers exactly, stay consistent with the lake across
ingests and allocations (one catalog swap), and keep a scoped viewer to their rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.allocate.engine import allocate
from cloudtally.query.costs import CostTable, grouped_costs
from cloudtally.query.cube import (
    ALLOCATED_CUBE,
    COSTS_CUBE,
    CUBES,
    TAGS_CUBE,
    cube_lens,
    tags_cube_lines,
)
from cloudtally.query.movers import top_movers
from cloudtally.query.ownership import Scope, ScopeError, lens_for
from cloudtally.query.periods import parse_range
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog
from cloudtally.tags.compliance import coverage, exceptions
from tests.allocate.lake import write_rules
from tests.query.lake import Day, day_store, write_days
from tests.web.company import RULES, Company


class LakeOnly(Store):
    """The same data dir with the cubes hidden: every question reads the lake."""

    def __init__(
        self, data_dir: Path, hide: tuple[str, ...] = (*CUBES.values(), TAGS_CUBE)
    ) -> None:
        super().__init__(data_dir)
        self.hide = hide

    def catalog(self) -> Catalog:
        catalog = super().catalog()
        derived = {k: v for k, v in catalog.derived.items() if k not in self.hide}
        return catalog.model_copy(update={"derived": derived})


class Unallocated(LakeOnly):
    """The data dir as if `allocate` had never run (owners read from the tags)."""

    def __init__(self, data_dir: Path, keep_cube: bool) -> None:
        hidden = ("allocated_costs", ALLOCATED_CUBE, *(() if keep_cube else (COSTS_CUBE,)))
        super().__init__(data_dir, hidden)


BY = ["provider", "account", "billing-account", "service", "service-category", "region",
      "charge-category", "team", "product", "env", "cost_center", "day", "week", "month",
      "period", "currency"]  # fmt: skip
FILTERS = {
    "provider": ["aws", "gcp", "azure"],
    "team": ["payments", "web", "data", "(none)"],
    "env": ["prod", "dev"],
    "service": ["Amazon Elastic Compute Cloud", "BigQuery", "Virtual Machines"],
    "charge-category": ["Usage", "Tax", "Credit"],
}
RANGES = ["2024-10", "2024-08..2024-10", "2024-09-03..2024-09-17", "2024-10-01..2024-10-01"]
METRICS = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"]
SCOPES = [Scope(), Scope(teams=("payments",)), Scope(teams=("web", "data"))]


def answer(store: Store, by: list[str], **kw: object) -> CostTable | str:
    try:
        return grouped_costs(store, by, **kw)  # type: ignore[arg-type]
    except ScopeError as exc:
        return str(exc)


def same(a: CostTable | str, b: CostTable | str) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert (a.columns, a.rows, a.total_by_currency) == (b.columns, b.rows, b.total_by_currency)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    by=st.lists(st.sampled_from(BY), min_size=1, max_size=2, unique=True),
    filters=st.dictionaries(
        st.sampled_from(sorted(FILTERS)), st.just(None), max_size=2
    ).flatmap(
        lambda words: st.fixed_dictionaries(
            {w: st.lists(st.sampled_from(FILTERS[w]), min_size=1, max_size=2, unique=True)
             for w in words}
        )
    ),
    when=st.sampled_from(RANGES),
    metric=st.sampled_from(METRICS),
    scope=st.sampled_from(SCOPES),
    top=st.sampled_from([None, 3]),
    allocated=st.booleans(),
)  # fmt: skip
def test_the_cube_gives_the_lakes_numbers_exactly(  # type: ignore[no-untyped-def]
    company: Company, by, filters, when, metric, scope, top, allocated
) -> None:
    if allocated:
        cubed, lake = Store(company.lake), LakeOnly(company.lake)
    else:
        cubed, lake = Unallocated(company.lake, True), Unallocated(company.lake, False)
    kw = dict(when=parse_range(when), metric_name=metric, filters=filters, scope=scope, top=top,
              rules_dir=RULES)  # fmt: skip
    lens = lens_for(cubed, [*by, *filters], rules_dir=RULES, scope=scope)
    # The question is answered from a cube (not the lake) by the store that has one.
    assert str(cube_lens(cubed, lens, [*by, *filters], metric)) == CUBES[lens.relation]
    assert str(cube_lens(lake, lens, [*by, *filters], metric)) == lens.relation
    same(answer(cubed, by, **kw), answer(lake, by, **kw))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    by=st.sampled_from(["service", "team", "account", "region"]),
    period=st.sampled_from(["2024-10", "2024-09", "2024-10-05..2024-10-11"]),
    scope=st.sampled_from(SCOPES),
)
def test_movers_from_the_cube_equal_the_lakes(company: Company, by, period, scope) -> None:  # type: ignore[no-untyped-def]
    kw = dict(when=parse_range(period), metric_name="EffectiveCost", top=20, scope=scope)
    a = top_movers(Store(company.lake), [by], **kw)  # type: ignore[arg-type]
    b = top_movers(LakeOnly(company.lake), [by], **kw)  # type: ignore[arg-type]
    assert (a.columns, a.rows) == (b.columns, b.rows)
    assert a.rows


def test_a_scoped_viewer_sees_only_their_rows_through_the_cube(company: Company) -> None:
    store = Store(company.lake)
    scope = Scope(teams=("payments",))
    lens = lens_for(store, ["team", "service"], scope=scope)
    assert str(cube_lens(store, lens, ["team", "service"], "BilledCost")) == ALLOCATED_CUBE
    table = grouped_costs(store, ["team", "service"], when=parse_range("2024-10"), scope=scope)
    assert {row[0] for row in table.rows} == {"payments"}
    expected = store.sql(
        "SELECT BillingCurrency, sum(BilledCost) FROM allocated_costs "
        "WHERE team = 'payments' AND x_BillingPeriod = '2024-10' GROUP BY 1"
    ).rows
    assert table.total_by_currency == dict(expected)
    # Another team's name in a filter is refused, never answered empty.
    with pytest.raises(ScopeError, match="team 'web' is outside"):
        grouped_costs(store, ["service"], filters={"team": "web"}, scope=scope)


def test_questions_the_cube_cannot_answer_read_the_lake(company: Company) -> None:
    store = Store(company.lake)
    for words in (["resource"], ["service", "sku"], ["tag:team"], ["ServiceName", "ResourceId"]):
        lens = lens_for(store, words)
        assert str(cube_lens(store, lens, words, "BilledCost")) == lens.relation
    # A tag policy other than the cube's: owners from tags are read from the lake.
    unallocated = Unallocated(company.lake, True)
    lens = lens_for(unallocated, ["team"])  # default policy, not RULES'
    assert str(cube_lens(unallocated, lens, ["team"], "BilledCost")) == "costs"
    # ...but questions without owners do not depend on the policy.
    lens = lens_for(unallocated, ["service"])
    assert str(cube_lens(unallocated, lens, ["service"], "BilledCost")) == COSTS_CUBE


ALLOCATION = """\
shared_pools:
  - id: tax
    match: {charge_category: [Tax]}
    split: direct_cost
"""
LINES_A = [
    Day("2024-10-01", "1.000000000000000001", tags={"team": "payments"}),
    Day("2024-10-02", "2.5", service="Storage", tags={"Team": "Web "}),
    Day("2024-10-02", "7", service="Tax", resource=None, category="Tax"),
]
LINES_B = [
    Day("2024-11-03", "10.25", tags={"team": "payments"}, account="222"),
    Day("2024-11-04", "0.000000000000000003", service="Storage", tags={"team": "web"}),
]


def totals(store: Store, by: list[str], when: str) -> list[tuple[object, ...]]:
    return grouped_costs(store, by, when=parse_range(when)).rows


def test_the_cubes_swap_with_the_lake_and_the_allocation(store: Store, tmp_path: Path) -> None:
    day_store(store, tmp_path, LINES_A)
    catalog = store.catalog()
    cube = catalog.derived[COSTS_CUBE]
    # Published in the same commit as the files it sums.
    assert cube.source_generation == catalog.generation - 1
    assert [row[:3] for row in totals(store, ["service"], "2024-10")] == [
        ("Tax", "USD", Decimal("7.000000000000000000")),
        ("Storage", "USD", Decimal("2.500000000000000000")),
        ("Compute", "USD", Decimal("1.000000000000000001")),
    ]
    assert totals(store, ["team"], "2024-10") == totals(
        LakeOnly(store.data_dir), ["team"], "2024-10"
    )
    rules = load_rules(write_rules(tmp_path / "rules", {"allocation.yaml": ALLOCATION}))
    allocate(store, rules)
    assert set(store.catalog().derived) >= {"allocated_costs", ALLOCATED_CUBE, COSTS_CUBE}
    lens = lens_for(store, ["team"])
    assert str(cube_lens(store, lens, ["team"])) == ALLOCATED_CUBE
    # A new ingest: the costs cube follows in the same swap; the allocation and its cube are
    # stale, so owner questions read the lake by the tags until `allocate` runs again.
    ingest_file = write_days(tmp_path / "b.csv", LINES_B)
    from cloudtally.ingest.pipeline import ingest

    ingest(store, [ingest_file])
    assert str(cube_lens(store, lens_for(store, ["service"]), ["service"])) == COSTS_CUBE
    assert str(cube_lens(store, lens_for(store, ["team"]), ["team"])) != ALLOCATED_CUBE
    lake = LakeOnly(store.data_dir)
    for by in (["service"], ["account", "day"], ["team"], ["charge-category", "currency"]):
        assert totals(store, by, "2024-10..2024-11") == totals(lake, by, "2024-10..2024-11")
    assert [row[:4] for row in totals(store, ["account"], "2024-11")] == [
        ("222", "acct-222", "USD", Decimal("10.250000000000000000")),
        ("111", "acct-111", "USD", Decimal("0.000000000000000003")),
    ]
    allocate(store, rules)
    lens = lens_for(store, ["team"])
    assert str(cube_lens(store, lens, ["team"])) == ALLOCATED_CUBE
    assert totals(store, ["team"], "2024-10..2024-11") == totals(lake, ["team"], "2024-10..2024-11")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    by=st.sampled_from([None, "team", "account", "service", "month", "provider"]),
    periods=st.sampled_from([None, ("2024-10", "2024-10"), ("2024-08", "2024-09")]),
    metric=st.sampled_from(["EffectiveCost", "BilledCost"]),
    scope=st.sampled_from(SCOPES),
)
def test_tag_compliance_from_the_cube_equals_the_lakes(
    company: Company, by, periods, metric, scope
) -> None:  # type: ignore[no-untyped-def]
    rules = load_rules(RULES)
    store, lake = Store(company.lake), LakeOnly(company.lake)
    assert tags_cube_lines(store, rules, periods, scope) is not None
    assert tags_cube_lines(lake, rules, periods, scope) is None
    a = coverage(store, rules, by, periods, metric, scope=scope)
    b = coverage(lake, rules, by, periods, metric, scope=scope)
    assert (a.columns, a.rows) == (b.columns, b.rows)
    assert a.rows
    if by is None:
        x = exceptions(store, rules, periods, 30, metric, scope=scope)
        y = exceptions(lake, rules, periods, 30, metric, scope=scope)
        assert (x.columns, x.rows, x.totals) == (y.columns, y.rows, y.totals)


def test_the_tags_cube_follows_the_rules_and_the_lake(company: Company, tmp_path: Path) -> None:
    rules = load_rules(RULES)
    store = Store(company.lake)
    # Day ranges are not in it: the lake answers.
    assert tags_cube_lines(store, rules, parse_range("2024-10-01..2024-10-07"), Scope()) is None
    assert tags_cube_lines(store, rules, parse_range("2024-10"), Scope()) is not None
    # Other rules (a changed tags.yaml): the lake answers.
    import shutil

    changed = shutil.copytree(RULES, tmp_path / "rules")
    (changed / "tags.yaml").write_text((RULES / "tags.yaml").read_text() + "\n# changed\n")
    assert tags_cube_lines(store, load_rules(changed), None, Scope()) is None


@pytest.mark.parametrize("scope", SCOPES)
def test_showback_and_chargeback_from_the_cube_equal_the_lakes(
    company: Company, scope: Scope
) -> None:
    from cloudtally.allocate.reports import chargeback, showback, unallocated

    store, lake = Store(company.lake), LakeOnly(company.lake)
    for by in ("team", "product", "cost_center", "env"):
        for period in ("2024-10", "2024-09"):
            a, b = showback(store, by, period, scope=scope), showback(lake, by, period, scope=scope)
            assert (a.rows, a.totals, a.unallocated) == (b.rows, b.totals, b.unallocated)
    a, b = (
        showback(store, "team", None, since="2024-10-03", until="2024-10-09", scope=scope),
        (showback(lake, "team", None, since="2024-10-03", until="2024-10-09", scope=scope)),
    )
    assert (a.rows, a.unallocated) == (b.rows, b.unallocated)
    assert (
        chargeback(store, "2024-10", scope=scope).rows
        == chargeback(lake, "2024-10", scope=scope).rows
    )
    if scope.unrestricted:
        found = unallocated(store, "2024-10")
        assert found == unallocated(lake, "2024-10")
        assert found and found[0].missing_keys


# -- the costs cube across ingests ----------------------------------------------------------------

# tags.yaml in ./rules as an ingest finds it (None: no file, the default policy).
POLICIES = [
    None,
    "keys:\n  team:\n    aliases: [owner]\n",
    "keys:\n  team:\n    case: upper\n    values: {web: frontend}\n  env:\n    aliases: [stage]\n",
]
TAG_SETS = [{}, {"team": "payments"}, {"Team": "Web "}, {"owner": "data", "env": "prod"},
            {"team": "web", "stage": "dev", "product": "shop"}]  # fmt: skip
LINE = st.builds(
    Day,
    day=st.sampled_from(["2024-09-01", "2024-09-17", "2024-09-30", "2024-10-02", "2024-10-31"]),
    billed=st.sampled_from(["1.000000000000000001", "2.5", "-0.75", "1234.56", "0"]),
    service=st.sampled_from(["Compute", "Storage"]),
    tags=st.sampled_from(TAG_SETS),
    account=st.sampled_from(["111", "222"]),
    provider=st.sampled_from(["aws", "gcp"]),
)
# A step: the tag policy in force, then one ingest of a file of these lines (every
# account-period it touches is replaced: a restatement when it was in the lake).
STEP = st.tuples(st.integers(0, len(POLICIES) - 1), st.lists(LINE, min_size=1, max_size=6))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=2, max_size=5))
def test_the_costs_cube_equals_the_lake_after_each_ingest(steps) -> None:  # type: ignore[no-untyped-def]
    import contextlib
    import tempfile

    from cloudtally.allocate.engine import lake_fingerprint
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.query.cube import cube_sql, known_span, policy_sha256
    from cloudtally.query.ownership import Lens, tag_policy
    from cloudtally.query.periods import lake_span

    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        store = Store(Path(folder) / "lake")
        (Path(folder) / "rules").mkdir()
        tags_yaml = Path(folder) / "rules" / "tags.yaml"
        parts_before: dict[object, str] = {}
        policy_before = None
        for n, (policy_index, lines) in enumerate(steps):
            text = POLICIES[policy_index]
            if text is None:
                tags_yaml.unlink(missing_ok=True)
            else:
                tags_yaml.write_text(text)
            report = ingest(store, [write_days(Path(folder) / f"step-{n}.csv", lines)])
            catalog = store.catalog()
            cube = catalog.derived[COSTS_CUBE]
            if report.partitions:
                policy = tag_policy(store)
            # (else the file is one the lake holds: nothing is stored, the cube stays as built)
            assert cube.parameters["lake"] == lake_fingerprint(catalog)
            assert cube.parameters["policy"] == policy_sha256(policy)
            # The cube holds exactly the lake's sums under the policy in force...
            con = store.connect()
            fresh = f"SELECT * FROM ({cube_sql('costs', policy)}) ORDER BY ALL"
            assert con.execute("SELECT * FROM costs_cube ORDER BY ALL").fetchall() == (
                con.execute(fresh).fetchall()
            )
            assert known_span(store, Lens("costs").over(COSTS_CUBE)) == lake_span(con)
            # ...in one part per live partition.
            parts = {p.key: p.file for p in cube.parts}
            assert list(parts) == [p.key for p in catalog.partitions]
            assert cube.files == list(parts.values())
            assert cube.rows == con.execute("SELECT count(*) FROM costs_cube").fetchone()[0]  # type: ignore[index]
            # The parts of the partitions this ingest did not touch are the same files, unless
            # the policy changed; the others are new (a restated partition's old part is gone).
            rebuilt = policy_sha256(policy) != policy_before
            for key, file in parts.items():
                if key in report.partitions or rebuilt:
                    assert file not in parts_before.values()
                else:
                    assert file == parts_before[key]
            for file in set(parts_before.values()) - set(parts.values()):
                assert file in catalog.retired_files
            parts_before, policy_before = parts, policy_sha256(policy)


def test_a_cube_written_whole_is_rebuilt_in_parts(store: Store, tmp_path: Path) -> None:
    """A costs cube of store format 3 (one file over the whole lake, no parts): the next ingest
    builds a part for every partition, those it did not touch too."""
    import json

    from cloudtally.ingest.pipeline import ingest

    day_store(store, tmp_path, LINES_A)
    on_disk = json.loads(store.catalog_path.read_text())
    cube = on_disk["derived"][COSTS_CUBE]
    (whole,) = cube["files"]
    del cube["parts"], cube["parameters"]["sql"]
    on_disk["format_version"] = 3
    store.catalog_path.write_text(json.dumps(on_disk))
    assert store.catalog().derived[COSTS_CUBE].parts == []
    ingest(store, [write_days(tmp_path / "b.csv", LINES_B)])
    catalog = store.catalog()
    cube = catalog.derived[COSTS_CUBE]
    assert [p.key.label() for p in cube.parts] == ["aws/payer/2024-10", "aws/payer/2024-11"]
    assert whole not in cube.files and whole in catalog.retired_files
    assert cube.rows == 5
    assert totals(store, ["service", "day"], "2024-10..2024-11") == totals(
        LakeOnly(store.data_dir), ["service", "day"], "2024-10..2024-11"
    )


def test_a_first_ingest_builds_every_part_in_batches(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six account-periods, parts built two per query: each part holds its account-period's
    sums exactly as `cube_sql` gives them over the lake, owners read from odd tag keys too."""
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.query import cube
    from cloudtally.query.cube import cube_sql
    from cloudtally.rules.tags import TagPolicy

    monkeypatch.setattr(cube, "PARTS_PER_QUERY", 2)
    odd = [{"\tteam": "tab"}, {"TEAM ": "Spaced", "env": "Prod"}, {"Team": "a", "team": "b"}, {}]
    lines = [
        Day(day, billed, tags=tags, provider=provider, account=account)
        for provider in ("aws", "gcp")
        for day in ("2024-08-30", "2024-09-02", "2024-10-31")
        for billed, tags, account in zip(
            ("1.000000000000000001", "2.5", "-0.75", "3"), odd, ("111", "222", "111", "222"),
            strict=True,
        )
    ]  # fmt: skip
    ingest(store, [write_days(tmp_path / "six.csv", lines)])
    catalog = store.catalog()
    parts = catalog.derived[COSTS_CUBE].parts
    assert [p.key.label() for p in parts] == [p.key.label() for p in catalog.partitions]
    assert len(parts) == 6 and [p.rows for p in parts] == [4] * 6
    con = store.connect()
    fresh = f"SELECT * FROM ({cube_sql('costs', TagPolicy())}) ORDER BY ALL"
    rows = con.execute("SELECT * FROM costs_cube ORDER BY ALL").fetchall()
    assert len(rows) == 24 and rows == con.execute(fresh).fetchall()
    by_file = con.execute(
        "SELECT parse_filename(filename), x_Provider || '/' || x_BillingPeriod, count(*) "
        "FROM read_parquet([" + ", ".join(f"'{store.data_dir / p.file}'" for p in parts) + "], "
        "filename = true) GROUP BY ALL ORDER BY 2"
    ).fetchall()
    assert [(name, where) for name, where, _ in by_file] == [
        (Path(p.file).name, f"{p.key.provider}/{p.key.billing_period}") for p in parts
    ]
    owners = con.execute(
        "SELECT team, env, sum(BilledCost) FROM costs_cube GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert owners == [
        ("b", None, Decimal("-4.500000000000000000")),
        ("spaced", "prod", Decimal("15.000000000000000000")),
        (None, None, Decimal("24.000000000000000006")),
    ]


@pytest.mark.parametrize("damage", ["garbage", "missing", "truncated"])
def test_a_damaged_costs_cube_is_read_around_and_built_again(
    store: Store,
    tmp_path: Path,
    cli,
    damage: str,  # type: ignore[no-untyped-def]
) -> None:
    """A costs cube part that cannot be read stops no command: questions read the lake (the
    same numbers), and the next ingest builds the part again."""
    from cloudtally.query.freshness import freshness
    from cloudtally.web.serving import ServingStore

    day_store(store, tmp_path, LINES_A)
    (part,) = store.catalog().derived[COSTS_CUBE].parts
    path = store.data_dir / part.file
    if damage == "garbage":
        path.write_bytes(b"not parquet" * 10)
    elif damage == "missing":
        path.unlink()
    else:  # the first and last bytes intact, the rest not: a copy cut short and patched
        path.write_bytes(path.read_bytes()[:4] + path.read_bytes()[-8:])
    lens = lens_for(store, ["service"])
    assert str(cube_lens(store, lens, ["service"], "BilledCost")) == "costs"
    assert [row[:3] for row in totals(store, ["service"], "2024-10")] == [
        ("Tax", "USD", Decimal("7.000000000000000000")),
        ("Storage", "USD", Decimal("2.500000000000000000")),
        ("Compute", "USD", Decimal("1.000000000000000001")),
    ]
    assert [(f.provider, str(f.first_day), str(f.newest_day)) for f in freshness(store)] == [
        ("aws", "2024-10-01", "2024-10-02")
    ]
    # The server holds no table of it (and answers from the lake).
    serving = ServingStore(store.data_dir)
    assert serving.connect().execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'costs_cube'"
    ).fetchone() == (0,)
    assert totals(serving, ["service"], "2024-10") == totals(store, ["service"], "2024-10")
    result = cli("costs", "--by", "service", "--period", "2024-10", "--format", "csv")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[1:] == [
        "Tax,USD,7,0.6666666666666666",
        "Storage,USD,2.5,0.23809523809523808",
        "Compute,USD,1.000000000000000001,0.09523809523809523",
    ]
    # The next ingest succeeds and builds the damaged part again (the untouched period too).
    result = cli("ingest", write_days(tmp_path / "b.csv", LINES_B))
    assert (result.exit_code, result.stderr) == (0, "")
    cube = store.catalog().derived[COSTS_CUBE]
    assert [p.key.label() for p in cube.parts] == ["aws/payer/2024-10", "aws/payer/2024-11"]
    assert part.file not in cube.files
    assert str(cube_lens(store, lens, ["service"], "BilledCost")) == COSTS_CUBE
    con = store.connect()
    assert con.execute("SELECT count(*), sum(BilledCost) FROM costs_cube").fetchone() == (
        5,
        Decimal("20.750000000000000004"),
    )
    assert totals(store, ["service", "day"], "2024-10..2024-11") == totals(
        LakeOnly(store.data_dir), ["service", "day"], "2024-10..2024-11"
    )


def test_an_ingest_rebuilds_a_damaged_cube_written_before_cubes_were_rebuildable(
    store: Store,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    import json

    from cloudtally.store.catalog import REBUILDABLE

    day_store(store, tmp_path, LINES_A)
    on_disk = json.loads(store.catalog_path.read_text())
    del on_disk["derived"][COSTS_CUBE]["parameters"][REBUILDABLE]
    store.catalog_path.write_text(json.dumps(on_disk))
    (part,) = store.catalog().derived[COSTS_CUBE].parts
    (store.data_dir / part.file).write_bytes(b"not parquet" * 10)
    result = cli("ingest", write_days(tmp_path / "b.csv", LINES_B))
    assert (result.exit_code, result.stderr) == (0, "")
    cube = store.catalog().derived[COSTS_CUBE]
    assert cube.parameters[REBUILDABLE] == "true"
    assert [p.key.label() for p in cube.parts] == ["aws/payer/2024-10", "aws/payer/2024-11"]
    assert part.file not in cube.files
    assert totals(store, ["service", "day"], "2024-10..2024-11") == totals(
        LakeOnly(store.data_dir), ["service", "day"], "2024-10..2024-11"
    )


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_damaged_allocation_cubes_are_read_around_and_written_again(
    cli,  # type: ignore[no-untyped-def]
    data_dir: Path,
    damage: str,
) -> None:
    """`allocated_cube` and `tags_cube` are sums of what `allocate` writes: a file of either
    that cannot be read stops no command (the allocated rows and usage lines answer, the same
    numbers), and the next `allocate` writes both again."""
    from cloudtally.query.cube import ALLOCATED_CUBE, TAGS_CUBE, current_relation, tags_cube_lines

    root = Path(__file__).resolve().parents[2]
    rules = root / "examples" / "rules"
    assert cli("ingest", "--no-progress", root / "samples" / "focus" / "1.2").exit_code == 0
    assert cli("allocate", "--rules", rules).exit_code == 0
    questions = [
        ("costs", "--by", "team", "--format", "csv"),
        ("showback", "--by", "team", "--format", "csv"),
        ("tags", "coverage", "--rules", rules, "--by", "team", "--format", "csv"),
    ]
    before = [cli(*q) for q in questions]
    assert [r.exit_code for r in before] == [0, 0, 0]
    store = Store(data_dir)

    def cubes_read() -> tuple[str, bool]:
        relation = current_relation(store, store.catalog(), "allocated_costs")
        lines = tags_cube_lines(store, load_rules(rules), None, Scope())
        return relation, lines is not None

    assert cubes_read() == (ALLOCATED_CUBE, True)
    damaged = []
    for name in (ALLOCATED_CUBE, TAGS_CUBE):
        (file,) = store.catalog().derived[name].files
        path = store.data_dir / file
        if damage == "garbage":
            path.write_bytes(b"not parquet" * 10)
        else:
            path.unlink()
        damaged.append(file)
    assert cubes_read() == ("allocated_costs", False)
    after = [cli(*q) for q in questions]
    assert [(r.exit_code, r.stderr, r.stdout) for r in after] == [(0, "", r.stdout) for r in before]
    assert len(before[0].stdout.splitlines()) > 3
    assert cli("allocate", "--rules", rules).exit_code == 0
    derived = store.catalog().derived
    for name, file in zip((ALLOCATED_CUBE, TAGS_CUBE), damaged, strict=True):
        (new,) = derived[name].files
        assert new != file
        assert (store.data_dir / new).read_bytes()[-4:] == b"PAR1"
    assert [cli(*q).stdout for q in questions] == [r.stdout for r in before]
    assert cubes_read() == (ALLOCATED_CUBE, True)
