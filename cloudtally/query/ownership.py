"""One ownership model for every question: who owns a line, and which relation answers.

The allocation dimensions (`team`, `product`, `cost_center`, `env`) are read from
`allocated_costs` when it is current (computed from the lake as it is now), so every command
agrees with showback, shared costs included. Otherwise they come from the line's tags,
normalised by the rules folder's `tags.yaml` (key spellings and aliases, case, trailing spaces,
value aliases): `payments`, `Payments`, `PAYMENTS` and `payments ` are one team. Raw tag
spellings never split an owner.

`Lens` is what a query reads through: the relation (`str(lens)` is its name, so it drops into
SQL text) and how each CLI word becomes SQL over it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import duckdb

from cloudtally.errors import QueryError
from cloudtally.query.dimensions import Dimension, dimension
from cloudtally.rules.tags import TagPolicy, load_tag_policy, raw_value_sql, value_sql
from cloudtally.sqltext import literal, literals
from cloudtally.store import Store

OWNERSHIP = ("team", "product", "cost_center", "env")
ALLOCATED = "allocated_costs"
NONE_LABEL = "(none)"


class ScopeError(QueryError):
    """A question reaches outside the teams or products a viewer may see (HTTP 403)."""


@dataclass(frozen=True)
class Scope:
    """What a viewer may see: lines of these teams or products (none given: everything).

    A scoped viewer never sees unallocated lines: they belong to no team.
    """

    teams: tuple[str, ...] = ()
    products: tuple[str, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return not self.teams and not self.products


EVERYTHING = Scope()


@dataclass(frozen=True)
class Lens:
    """The relation a question reads (`costs` or `allocated_costs`), its dimensions, and the
    scope of the viewer asking: every condition a query builds comes from `filter_sql`, which
    always adds the scope, so no query can leave it out."""

    relation: str = "costs"
    policy: TagPolicy = field(default_factory=TagPolicy)
    note: str | None = None  # said to the user when the choice is not the obvious one
    scope: Scope = EVERYTHING
    # The relation holds the owners as columns (allocated_costs, or a cube of sums: see
    # query/cube.py, whose owner columns were computed by this lens's rules).
    owner_columns: bool = False

    def __str__(self) -> str:
        return self.relation

    @property
    def allocated(self) -> bool:
        return self.relation == ALLOCATED

    def over(self, relation: str) -> Lens:
        """This lens (scope, policy, note) over `relation`, a cube of sums of its relation
        whose owners are columns."""
        return replace(self, relation=relation, owner_columns=True)

    def dimension(self, word: str) -> Dimension:
        """A CLI word as SQL over this lens's relation."""
        if word in OWNERSHIP:
            if self.allocated or self.owner_columns:
                return Dimension(word, f'"{word}"')
            return Dimension(word, value_sql(self.policy, word))
        if word.startswith("tag:") and len(word) > 4:
            return Dimension(word, self.tag_sql(word[4:]))
        return dimension(word)

    def tag_sql(self, key: str) -> str:
        """The value of tag `key`, keys matched trimmed and case-folded.

        A key of the tag policy is normalised as the policy says (aliases, case, values); any
        other key has its value trimmed, its case kept.
        """
        name = key.strip().lower()
        if name in self.policy.keys or name in self.policy.required or name in OWNERSHIP:
            return value_sql(self.policy, name)
        return f"nullif(trim({raw_value_sql(TagPolicy(), name)}), '')"

    def normalise(self, word: str, value: str) -> str:
        """A filter value as the lens stores it (owners are normalised like the tags)."""
        if word in OWNERSHIP:
            return self.policy.normalise_value(word, value) or value
        return value

    def filter_sql(self, filters: Mapping[str, str | Sequence[str]]) -> str:
        """`{word: value or [values]}` and the viewer's scope as a WHERE condition (values
        bound as literals). A filter naming a team or product outside the scope is refused."""
        self._check_scope(filters)
        clauses = [self.scope_sql()] if not self.scope.unrestricted else []
        for word, wanted in filters.items():
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            expr = self.dimension(word).expr
            named = [self.normalise(word, v) for v in values if v != NONE_LABEL]
            parts = []
            if named:
                parts.append(f"CAST({expr} AS VARCHAR) IN ({literals(named)})")
            if NONE_LABEL in values:
                parts.append(f"({expr}) IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
        return " AND ".join(clauses) or "true"

    def scope_sql(self) -> str:
        """The condition that keeps the viewer's lines only ("true" for everything)."""
        if self.scope.unrestricted:
            return "true"
        parts = []
        for word, allowed in (("team", self.scope.teams), ("product", self.scope.products)):
            if allowed:
                parts.append(
                    f"CAST({self.dimension(word).expr} AS VARCHAR) IN ({literals(allowed)})"
                )
        return "(" + " OR ".join(parts) + ")"

    def _check_scope(self, filters: Mapping[str, str | Sequence[str]]) -> None:
        if self.scope.unrestricted:
            return
        for word, allowed in (("team", self.scope.teams), ("product", self.scope.products)):
            wanted = filters.get(word)
            if wanted is None:
                continue
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            outside = [v for v in values if self.normalise(word, v) not in allowed]
            if outside and (allowed or word == "team"):
                raise ScopeError(
                    f"{word} {outside[0]!r} is outside what you may see "
                    f"({', '.join(allowed) or 'no ' + word + 's'})."
                )

    def covers(self, values: Mapping[str, str]) -> bool:
        """Whether a result kept outside the lake and named by `{word: value}` (an anomaly's
        series) lies inside the viewer's scope: it must name one of the viewer's teams or
        products (`tag:team` counts as `team`)."""
        if self.scope.unrestricted:
            return True
        named = {k.removeprefix("tag:"): v for k, v in values.items()}
        return any(
            named.get(word) is not None and self.normalise(word, named[word]) in allowed
            for word, allowed in (("team", self.scope.teams), ("product", self.scope.products))
            if allowed
        )

    def equals_sql(self, word: str, value: str) -> str:
        """The condition `word = value` (`(none)` means the value is missing)."""
        expr = self.dimension(word).expr
        if value == NONE_LABEL:
            return f"({expr}) IS NULL"
        return f"CAST({expr} AS VARCHAR) = {literal(value)}"


def tag_policy(store: Store, rules_dir: Path | None = None) -> TagPolicy:
    """The tag policy in force: `rules_dir`'s tags.yaml, else the rules folder the allocation
    used, else ./rules, else the default (keys folded, values trimmed and lower-cased)."""
    candidates: list[Path] = []
    if rules_dir is not None:
        candidates.append(Path(rules_dir))
    else:
        dataset = store.catalog().derived.get(ALLOCATED)
        if dataset is not None and dataset.parameters.get("rules"):
            candidates.append(Path(dataset.parameters["rules"]))
        candidates.append(Path("rules"))
    for folder in candidates:
        path = folder / "tags.yaml"
        try:
            stat = path.stat()
        except OSError:
            continue
        return _policy_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return TagPolicy()


@lru_cache(maxsize=32)
def _policy_of(path: str, mtime_ns: int, size: int) -> TagPolicy:
    """A tags.yaml's policy, parsed once per version of the file (a server asks per request)."""
    return load_tag_policy(Path(path))


def allocation_state(store: Store) -> str:
    """`current`, `stale` (the lake changed since `allocate`) or `missing`."""
    from cloudtally.allocate.engine import lake_fingerprint

    catalog = store.catalog()
    dataset = catalog.derived.get(ALLOCATED)
    if dataset is None:
        return "missing"
    return "current" if dataset.parameters.get("lake") == lake_fingerprint(catalog) else "stale"


def lens_for(
    store: Store,
    words: Sequence[str] = (),
    *,
    rules_dir: Path | None = None,
    prefer_allocated: bool = False,
    scope: Scope = EVERYTHING,
) -> Lens:
    """The lens a question about `words` (dimensions and filters) reads through, for a viewer
    with `scope` (a scoped viewer reads owners like any other question: shared costs as
    allocated to their teams when the allocation is current)."""
    policy = tag_policy(store, rules_dir)
    needs_owner = prefer_allocated or not scope.unrestricted or any(w in OWNERSHIP for w in words)
    if not needs_owner:
        return Lens("costs", policy)
    state = allocation_state(store)
    if state == "current":
        return Lens(ALLOCATED, policy, scope=scope)
    note = None
    if state == "stale":
        note = (
            "allocated_costs is older than the lake (data was ingested since "
            "`cloudtally allocate`): owners are read from the tags; run `cloudtally allocate` "
            "to include shared costs."
        )
    return Lens("costs", policy, note, scope)


def has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name]
    ).fetchone()
    return bool(found and found[0])
