"""`cloudtally models`: a dbt project that runs cloudtally's logic inside a warehouse.

The models are the product's own SQL, not a copy: the canonical view is the FOCUS converter's
SELECT over the warehouse table, allocation is the allocation builder's statements for the
user's rules folder (each temp table becomes a model), the daily cube and showback read the
allocated rows as the CLI does. The SQL is DuckDB's and is transpiled with sqlglot to the
target dialect (Spark and Databricks through cloudtally's own Spark rewrites,
`cloudtally/engine/dialect.py`, BigQuery through `cloudtally/models/bigquery.py`); what a
dialect cannot express is refused by name.

    models/sources.yml                   the FOCUS table the models read
    models/canonical/costs.sql           canonical FOCUS 1.2 rows (as `cloudtally ingest` makes)
    models/allocation/alloc_*.sql        mapping tables, lines, pools, recipients, shares
    models/allocation/allocated_costs.sql
    models/cube/daily_costs.sql          one row per day, account, service, owner and currency
    models/showback/showback.sql         direct, shared and total per period and owner
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from cloudtally.allocate.reports import showback_select
from cloudtally.allocate.sql import DIMENSIONS, LINE_COLUMNS, Builder
from cloudtally.engine.dialect import glob_as_regex, parse, to_spark_tree, union_by_name
from cloudtally.errors import ExportError, UnsupportedError
from cloudtally.focus.canonical import FOCUS_COLUMNS
from cloudtally.ingest.formats.focus import FocusConverter
from cloudtally.ingest.source import SourceFile
from cloudtally.models.bigquery import to_bigquery_tree
from cloudtally.rules.allocation import RuleSet

DIALECTS = ("duckdb", "spark", "databricks", "bigquery", "snowflake")
SOURCE_NAME = "billing"
SOURCE_TABLE = "focus_cost_and_usage"
PROJECT = "cloudtally"

# Stand-ins for dbt's Jinja while the SQL goes through sqlglot (plain identifiers survive any
# dialect), replaced by `{{ ref(..) }}` / `{{ source(..) }}` in the written files.
_REF = "dbtref__"
_SOURCE = "dbtsource__billing"


@dataclass
class Model:
    name: str
    folder: str
    sql: str  # DuckDB dialect, relations named by model name
    materialized: str = "table"
    description: str = ""


@dataclass
class ModelsReport:
    out: Path
    dialect: str
    models: list[str] = field(default_factory=list)


def canonical_model(source_table: str = SOURCE_TABLE) -> Model:
    """The FOCUS converter over the warehouse table: a FOCUS export (1.0-1.2 columns, text or
    typed, Tags as JSON object text) loaded as it is."""
    source = SourceFile(
        path=Path(source_table),
        size=0,
        container="table",
        compression="none",
        columns=list(FOCUS_COLUMNS),
    )
    sql = FocusConverter(source).select_sql("dbt", from_sql=_SOURCE)
    return Model(
        "costs", "canonical", sql, "table", "Canonical FOCUS 1.2 cost rows (cloudtally ingest)."
    )


def allocation_models(rules: RuleSet, canonical: Model) -> list[Model]:
    """The allocation builder's statements for `rules`, one model per table it makes.

    The builder is given the columns the canonical model has beyond the canonical ones (the
    converter's extensions, e.g. x_SourceValues), as the CLI gives it those of the lake's
    `costs`: direct rows carry every column of their line."""
    kubernetes = [p.id for p in rules.allocation.shared_pools if p.split == "kubernetes"]
    if kubernetes:
        raise UnsupportedError(
            f"Shared pool {kubernetes[0]!r} splits by OpenCost's allocations, which the models "
            "do not read yet: run `cloudtally allocate` for it, or leave the pool out of the "
            "rules folder given to `cloudtally models`."
        )
    select = parse(canonical.sql)[0]
    assert isinstance(select, exp.Query)
    columns = select.named_selects
    builder = Builder(
        rules, "alloc", extra_columns=tuple(c for c in columns if c not in LINE_COLUMNS)
    )
    models: list[Model] = []
    # A table, not a view: on Spark the view's text (a tag lookup per rule key) can pass the
    # 32,700 characters a Hive metastore keeps of a view.
    lines = Model("alloc_lines", "allocation", builder.lines_sql(), "table", "Lines with owners.")
    statements = builder.statements(f"SELECT * FROM {lines.name}")
    parts: dict[str, list[str]] = {}
    schemas: dict[str, list[tuple[str, exp.DataType]]] = {}
    for text in statements:
        statement = parse(text)[0]
        if isinstance(statement, exp.Create):
            target = statement.this
            if isinstance(target, exp.Schema):  # CREATE TABLE t (col TYPE, ...), then INSERTs
                name = target.this.name
                schemas[name] = [(c.name, c.args["kind"]) for c in target.expressions]
                empty = ", ".join(
                    f"CAST(NULL AS {t.sql('duckdb')}) AS {n}" for n, t in schemas[name]
                )
                parts[name] = [f"SELECT {empty} WHERE false"]
            else:
                parts[target.name] = [statement.expression.sql("duckdb")]
        elif isinstance(statement, exp.Insert):
            name = statement.this.name
            parts[name].append(_typed(statement.expression, schemas[name]))
    for name, selects in parts.items():
        models.append(Model(name, "allocation", "\nUNION ALL\n".join(selects)))
    # The lines follow the helper tables they join and precede the split that reads them.
    summary = builder.table("summary")
    lines_at = next((i for i, m in enumerate(models) if m.name == summary), len(models))
    models.insert(lines_at, lines)
    models.append(
        Model(
            "allocated_costs",
            "allocation",
            builder.output_sql(f"SELECT * FROM {lines.name}"),
            "table",
            "Every cost line with team, product, cost_center, env; shared pools split exactly.",
        )
    )
    return models


def _typed(source: exp.Expression, columns: list[tuple[str, exp.DataType]]) -> str:
    """An INSERT's rows as a SELECT with the table's column names and types."""
    if isinstance(source, exp.Values):
        alias = ", ".join(f"col{i}" for i in range(len(columns)))
        casts = ", ".join(
            f"CAST(v.col{i} AS {t.sql('duckdb')}) AS {n}" for i, (n, t) in enumerate(columns)
        )
        return f"SELECT {casts} FROM ({source.sql('duckdb')}) AS v({alias})"
    if not isinstance(source, exp.Select) or len(source.expressions) != len(columns):
        raise UnsupportedError(f"INSERT of {source.sql('duckdb')[:60]} cannot become a model.")
    select = source.copy()
    select.set(
        "expressions",
        [
            exp.alias_(exp.cast(e.unalias() if isinstance(e, exp.Alias) else e, t), n)
            for e, (n, t) in zip(select.expressions, columns, strict=True)
        ],
    )
    return select.sql("duckdb")


def report_models(allocated: bool) -> list[Model]:
    source = "allocated_costs" if allocated else "costs"
    owners = ", ".join(DIMENSIONS) + ", " if allocated else ""
    cube = f"""
        SELECT CAST(ChargePeriodStart AS DATE) AS day, x_Provider, x_BillingPeriod,
               BillingAccountId, SubAccountId, ServiceName, ChargeCategory, {owners}
               BillingCurrency, sum(BilledCost) AS BilledCost,
               sum(EffectiveCost) AS EffectiveCost, count(*) AS lines
        FROM {source}
        GROUP BY ALL"""
    models = [Model("daily_costs", "cube", cube, "table", "Daily costs (UTC days).")]
    if allocated:
        parts = [showback_select(dim, "EffectiveCost", dimension_column=True) for dim in DIMENSIONS]
        models.append(
            Model(
                "showback",
                "showback",
                "\nUNION ALL\n".join(parts),
                "table",
                "Direct, shared and total EffectiveCost per period, dimension and value.",
            )
        )
    return models


def all_models(rules: RuleSet | None, source_table: str = SOURCE_TABLE) -> list[Model]:
    canonical = canonical_model(source_table)
    models = [canonical]
    if rules is not None:
        models.extend(allocation_models(rules, canonical))
    models.extend(report_models(rules is not None))
    return models


# -- transpiling -----------------------------------------------------------------------------


def render(models: list[Model], dialect: str) -> dict[str, str]:
    """Each model's SQL in `dialect`, with dbt's ref() and source()."""
    if dialect not in DIALECTS:
        raise UnsupportedError(f"Unknown dialect {dialect!r}: use one of {', '.join(DIALECTS)}.")
    names = {m.name for m in models}
    schema: dict[str, object] = {_SOURCE: {c: "text" for c in FOCUS_COLUMNS}}
    rendered: dict[str, str] = {}
    problems: list[str] = []
    for model in models:
        tree = parse(model.sql)[0]
        for table in tree.find_all(exp.Table):
            if table.name in names and not table.db:
                if not table.alias:
                    # Columns are qualified by the alias, never by `{{ ref(..) }}` (a
                    # schema-qualified name is not a valid qualifier).
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
                table.set("this", exp.to_identifier(_REF + table.name))
            elif table.name == _SOURCE and not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier("source")))
        tree = union_by_name(tree)
        if dialect in ("bigquery", "snowflake"):
            tree = tree.transform(glob_as_regex)  # neither has GLOB
        if dialect == "spark":
            # Spark has no `* EXCLUDE`: stars are expanded from the models' known columns.
            # Qualifying normalises names to lower case (DuckDB's and Spark's names are case
            # insensitive); the names as written are put back, so the columns of a table dbt
            # makes are named as the CLI's (`BilledCost`, not `billedcost`).
            spelled = {c.lower(): c for columns in schema.values() for c in columns}  # type: ignore[attr-defined]
            spelled.update({i.name.lower(): i.name for i in tree.find_all(exp.Identifier)})
            tree = qualify(
                tree,
                schema=schema,
                dialect="duckdb",
                quote_identifiers=False,
                validate_qualify_columns=False,
                identify=False,
            )
            for identifier in tree.find_all(exp.Identifier):
                identifier.set("this", spelled.get(identifier.name.lower(), identifier.name))
        try:
            if dialect == "bigquery":
                tree = to_bigquery_tree(tree)
            if dialect in ("spark", "databricks"):
                sql = to_spark_tree(tree).sql(
                    dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE, pretty=True
                )
            else:
                sql = tree.sql(
                    dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE, pretty=True
                )
        except (sqlglot.errors.UnsupportedError, UnsupportedError) as exc:
            problems.append(f"{model.name}: {str(exc).splitlines()[0]}")
            continue
        columns = {c: "text" for c in tree.named_selects} if isinstance(tree, exp.Query) else {}
        schema[_REF + model.name] = columns
        sql = re.sub(_REF + r"(\w+)", r"{{ ref('\1') }}", sql)
        sql = sql.replace(_SOURCE, "{{ source('" + SOURCE_NAME + "', var('focus_table')) }}")
        header = f"{{{{ config(materialized='{model.materialized}') }}}}\n"
        if model.description:
            header = f"-- {model.description}\n" + header
        rendered[model.name] = header + sql + "\n"
    if problems:
        raise UnsupportedError(
            f"The models cannot be written for {dialect}: " + "; ".join(problems)
        )
    return rendered


# -- the project -------------------------------------------------------------------------------


def write_models(
    out: Path,
    dialect: str,
    rules: RuleSet | None,
    *,
    source_schema: str = "billing",
    source_table: str = SOURCE_TABLE,
    overwrite: bool = False,
) -> ModelsReport:
    """Write the dbt project to `out` (beside, then swapped in: a failure leaves nothing)."""
    models = all_models(rules, source_table)
    rendered = render(models, dialect)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(
            f"{out} exists and is not empty: choose another --out or give --overwrite."
        )
    staging = out.with_name(f".{out.name}.writing")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "models").mkdir(parents=True)
    (staging / "dbt_project.yml").write_text(_project_yml(source_table), encoding="utf-8")
    (staging / "models" / "sources.yml").write_text(
        _sources_yml(source_schema, source_table), encoding="utf-8"
    )
    for model in models:
        folder = staging / "models" / model.folder
        folder.mkdir(exist_ok=True)
        (folder / f"{model.name}.sql").write_text(rendered[model.name], encoding="utf-8")
    (staging / "README.md").write_text(_readme(dialect, rules, models), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return ModelsReport(out, dialect, [m.name for m in models])


def _project_yml(source_table: str) -> str:
    return f"""# Written by `cloudtally models`; regenerate rather than edit.
name: {PROJECT}
version: "1.0.0"
config-version: 2
profile: {PROJECT}
model-paths: ["models"]
vars:
  focus_table: {source_table}
"""


def _sources_yml(schema: str, table: str) -> str:
    columns = "\n".join(f"          - name: {c}" for c in FOCUS_COLUMNS)
    return f"""version: 2
sources:
  - name: {SOURCE_NAME}
    schema: {schema}
    description: FOCUS Cost and Usage rows as exported (FOCUS 1.0-1.2 columns, Tags as JSON text).
    tables:
      - name: {table}
        columns:
{columns}
"""


def _readme(dialect: str, rules: RuleSet | None, models: list[Model]) -> str:
    listed = "\n".join(
        f"- `{m.folder}/{m.name}`: {m.description or 'allocation step'}" for m in models
    )
    rules_line = (
        f"Allocation rules: `{rules.folder}` (regenerate after changing them)."
        if rules is not None
        else "No rules folder was given: no allocation models."
    )
    session = (
        "days are UTC days whatever the session's time zone; the source table's `Tags` and "
        "`SkuPriceDetails` must be JSON text (STRING), and `Tags` becomes an array of "
        "key/value structs"
        if dialect == "bigquery"
        else "the session time zone must be UTC: days are UTC days"
    )
    return f"""# cloudtally models ({dialect})

Written by `cloudtally models --dialect {dialect}`. The SQL is cloudtally's own (the FOCUS
converter and the allocation builder), transpiled from DuckDB's dialect.

{rules_line}

Run with a profile named `{PROJECT}` ({session}):

    dbt run --project-dir .

Models:

{listed}
"""
