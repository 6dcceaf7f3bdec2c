"""The tag policy (`rules/tags.yaml`): required keys, key aliases, value normalisation and
inheritance from account metadata, and the SQL that applies it to the `Tags` map.

Tag keys are matched case-folded and trimmed, so `Team`, `TEAM` and ` team` are one key;
aliases (`owner-team`, `owner`) fold into the canonical key, canonical spelling first. Values
are trimmed, case-normalised (lower by default) and mapped through value aliases. A value
that is empty after this counts as missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloudtally.rules.yaml_loader import load_model
from cloudtally.sqltext import literal, literals

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TagKey(_Model):
    """How one canonical key is recognised and its values normalised."""

    aliases: list[str] = Field(default_factory=list)  # other spellings of the key
    case: Literal["lower", "upper", "keep"] = "lower"
    values: dict[str, str] = Field(default_factory=dict)  # value alias -> canonical value
    allowed: list[str] | None = None  # None: any non-empty value is valid
    inherit: str | None = None  # mapping table (rules/mappings/<name>.csv) to inherit from

    @field_validator("aliases")
    @classmethod
    def _fold_aliases(cls, aliases: list[str]) -> list[str]:
        return [a.strip().lower() for a in aliases]


class TagPolicy(_Model):
    """`tags.yaml`: the keys every resource must carry and how tags are normalised."""

    required: list[str] = Field(default_factory=list)
    keys: dict[str, TagKey] = Field(default_factory=dict)

    @field_validator("required")
    @classmethod
    def _known_shape(cls, required: list[str]) -> list[str]:
        for key in required:
            if not KEY_PATTERN.match(key):
                raise ValueError(
                    f"{key!r} is not a canonical key: use lower case letters, digits and _"
                )
        return required

    def key(self, name: str) -> TagKey:
        return self.keys.get(name, TagKey())

    def spellings(self, name: str) -> list[str]:
        """The folded key spellings that mean `name`, canonical first.

        >>> TagPolicy(keys={"team": TagKey(aliases=["Owner-Team"])}).spellings("team")
        ['team', 'owner-team']
        """
        return [name, *(a for a in self.key(name).aliases if a != name)]

    def normalise_value(self, name: str, value: str | None) -> str | None:
        """The Python twin of `value_sql` (used for Terraform plans and tests).

        >>> policy = TagPolicy(keys={"env": TagKey(values={"production": "prod"})})
        >>> policy.normalise_value("env", " Production "), policy.normalise_value("env", " ")
        ('prod', None)
        """
        if value is None:
            return None
        spec = self.key(name)
        text = value.strip()
        text = (
            text.lower() if spec.case == "lower" else text.upper() if spec.case == "upper" else text
        )
        text = spec.values.get(text, text)
        return text or None

    def find(self, name: str, tags: dict[str, str] | None) -> str | None:
        """The normalised value of canonical key `name` in a tag dict, or None."""
        if not tags:
            return None
        order = self.spellings(name)
        # The order of `raw_value_sql`: the spelling's rank, an exact lower-case key first, the
        # key; the first non-empty value wins.
        matching = sorted(
            (k for k in tags if k.strip().lower() in order),
            key=lambda k: (order.index(k.strip().lower()), k != k.strip().lower(), k),
        )
        for key in matching:
            if tags[key] is not None and tags[key].strip():
                return self.normalise_value(name, tags[key])
        return None

    def invalid(self, name: str, value: str | None) -> bool:
        allowed = self.key(name).allowed
        return value is not None and allowed is not None and value not in allowed


def load_tag_policy(path: Path) -> TagPolicy:
    """Load `tags.yaml` (a missing file is an empty policy)."""
    if not path.exists():
        return TagPolicy()
    return load_model(path, TagPolicy)


def raw_value_sql(
    policy: TagPolicy,
    name: str,
    tags: str = "Tags",
    present: list[str] | Mapping[str, str] | None = None,
) -> str:
    """SQL for the un-normalised value of canonical key `name` in the map column `tags`.

    When several spellings are present the canonical one wins, then aliases in the order
    listed. With `present` (the distinct keys of the data, found by one cheap scan) the keys
    are folded once per dataset and each line does plain map lookups, 4-5x faster than
    folding every entry of every line, which is the fallback. `present` as a mapping gives
    each key folded by the engine (`lower(trim(key))`, as the fallback folds it); as a list,
    keys are folded here (Python's `strip` and `lower`, which differ from the engine's on
    tabs and some non-ASCII letters).

    >>> raw_value_sql(TagPolicy(), "team", "t", present=["Team", "env", "team"])
    "coalesce(nullif(trim(t['team']), ''), nullif(trim(t['Team']), ''))"
    """
    if present is not None:
        order = policy.spellings(name)
        folded = (
            present if isinstance(present, Mapping) else {k: k.strip().lower() for k in present}
        )
        # The fallback's order: the spelling's rank, an exact lower-case key first, the key
        # (code point order, as the engine compares UTF-8 text).
        matching = sorted(
            (k for k, f in folded.items() if f in order),
            key=lambda k: (order.index(folded[k]), k != folded[k], k),
        )
        if not matching:
            return "CAST(NULL AS VARCHAR)"
        lookups = [f"nullif(trim({tags}[{literal(k)}]), '')" for k in matching]
        return lookups[0] if len(lookups) == 1 else f"coalesce({', '.join(lookups)})"
    spellings = "[" + literals(policy.spellings(name)) + "]"
    return (
        f"(list_sort(list_transform(list_filter(map_entries({tags}), "
        f"lambda e: list_contains({spellings}, lower(trim(e.key))) AND nullif(trim(e.value), '') IS NOT NULL), "
        # Ordered as with `present`: the spelling's rank, an exact lower-case key first, the key.
        f"lambda e: {{'p': list_position({spellings}, lower(trim(e.key))), "
        f"'c': e.key <> lower(trim(e.key)), 'k': e.key, 'v': e.value}}))[1]).v"
    )


def normalise_sql(policy: TagPolicy, name: str, raw: str) -> str:
    """SQL turning a raw value expression into the canonical value (NULL when empty)."""
    spec = policy.key(name)
    text = f"trim({raw})"
    if spec.case == "lower":
        text = f"lower({text})"
    elif spec.case == "upper":
        text = f"upper({text})"
    if spec.values:
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in spec.values.items())
        text = f"(CASE {text} {whens} ELSE {text} END)"
    return f"nullif({text}, '')"


def value_sql(policy: TagPolicy, name: str, tags: str = "Tags") -> str:
    """SQL for the normalised value of canonical key `name` (NULL when missing)."""
    return normalise_sql(policy, name, raw_value_sql(policy, name, tags))


def valid_sql(policy: TagPolicy, name: str, value: str) -> str:
    """SQL true when a normalised value is present and allowed, else false (never NULL, so
    `NOT valid` selects exactly the lines that break the policy)."""
    allowed = policy.key(name).allowed
    if allowed is None:
        return f"({value} IS NOT NULL)"
    if not allowed:
        return "false"
    return f"({value} IS NOT NULL AND {value} IN ({literals(allowed)}))"
