"""The scope of a savings item: which cost lines it is about, as `key=value` conditions with the
keys of allocation rules' `when` (all must hold; `|` separates alternatives of one key):

    resource=vol-0abc*        ResourceId or ResourceName, glob
    service=Amazon Elastic Block Store
    account=payments-prod     SubAccountId or SubAccountName
    region=us-east-1          RegionId
    sku=ABC123                SkuId
    provider=aws              x_Provider
    tag:env=prod              the value of a tag (keys compared without case)
    team=payments             the team tag, compared without case and spaces

>>> scope_sql({"service": "Amazon EC2|AWS Lambda", "sku": "ABC"})
"((ServiceName IN ('Amazon EC2', 'AWS Lambda')) AND (SkuId IN ('ABC')))"
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from cloudtally.errors import QueryError
from cloudtally.sqltext import literal

if TYPE_CHECKING:
    from cloudtally.query.ownership import Lens

KEYS = ("resource", "service", "account", "region", "sku", "provider", "team")


def _tag(key: str) -> str:
    """The value of a tag, its key compared without case; lower-cased and trimmed."""
    entries = f"list_filter(map_entries(Tags), lambda e: lower(e.key) = {literal(key.lower())})"
    return f"lower(trim(coalesce({entries}[1].value, '')))"


def parse_filter(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`("service=Amazon EC2", "tag:env=prod")` -> {"service": "Amazon EC2", "tag:env": "prod"}."""
    scope: dict[str, str] = {}
    for item in items:
        for part in [p for p in item.split(",") if p.strip()] if "=" in item else [item]:
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not value:
                raise QueryError(
                    f"--where {part!r} is not KEY=VALUE: use e.g. service=Amazon EC2 or "
                    "tag:team=payments."
                )
            if key not in KEYS and not (key.startswith("tag:") and len(key) > 4):
                close = difflib.get_close_matches(key, KEYS, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise QueryError(
                    f"--where key {key!r} is unknown.{hint} Use {', '.join(KEYS)} or tag:KEY."
                )
            if key in scope:
                raise QueryError(f"--where gives {key!r} twice: join values with | instead.")
            scope[key] = value
    if not scope:
        raise QueryError("--where is required: say which cost lines the item is about.")
    return scope


def scope_sql(scope: dict[str, str], lens: Lens | None = None) -> str:
    """SQL true on the cost lines of a scope (all its conditions). With a lens over `costs`,
    `team` and `tag:KEY` read the tags as the ownership model normalises them (tags.yaml)."""
    terms = []
    for key, value in scope.items():
        values = [v.strip() for v in value.split("|") if v.strip()]
        listed = ", ".join(literal(v) for v in values)
        if key == "resource":
            terms.append(
                "(" + " OR ".join(
                    f"coalesce(ResourceId, '') GLOB {literal(v)} OR coalesce(ResourceName, '') GLOB {literal(v)}"
                    for v in values
                ) + ")"
            )  # fmt: skip
        elif key == "service":
            terms.append(f"ServiceName IN ({listed})")
        elif key == "account":
            terms.append(f"(SubAccountId IN ({listed}) OR SubAccountName IN ({listed}))")
        elif key == "region":
            terms.append(f"RegionId IN ({listed})")
        elif key == "sku":
            terms.append(f"SkuId IN ({listed})")
        elif key == "provider":
            terms.append(f"x_Provider IN ({listed})")
        elif lens is not None:  # team, tag:KEY through the ownership model
            word = "team" if key == "team" else key
            named = ", ".join(literal(lens.normalise(word, v)) for v in values)
            terms.append(f"CAST({lens.dimension(word).expr} AS VARCHAR) IN ({named})")
        elif key == "team":
            lowered = ", ".join(literal(v.lower()) for v in values)
            terms.append(f"{_tag('team')} IN ({lowered})")
        else:  # tag:KEY
            lowered = ", ".join(literal(v.lower()) for v in values)
            terms.append(f"{_tag(key[4:])} IN ({lowered})")
    return "(" + " AND ".join(f"({t})" for t in terms) + ")"


def describe(scope: dict[str, str]) -> str:
    """`service=Amazon EC2, tag:env=prod`."""
    return ", ".join(f"{k}={v}" for k, v in scope.items())
