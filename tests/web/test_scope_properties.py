"""Property: whoever asks, with whatever filters, a scoped viewer's answer holds only their
teams' rows, its totals are the sum of its rows and equal the lake's total for their teams,
and a filter naming another team is refused (403), never answered empty."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.access.users import add_user
from cloudtally.store import Store
from tests.web.company import Company

TEAMS = ["data", "ml", "mobile", "payments", "platform", "search", "security", "web"]
FILTERS = {
    "env": ["prod", "stage", "dev"],
    "provider": ["aws", "azure", "gcp"],
    "service": [
        "Amazon Elastic Compute Cloud",
        "AWS Data Transfer",
        "BigQuery",
        "Virtual Machines",
    ],
    "team": TEAMS,
}
COLUMN = {"env": "env", "provider": "x_Provider", "service": "ServiceName", "team": "team"}
ENDPOINTS = ["costs", "movers", "showback", "chargeback", "anomalies", "explain", "tags"]


class Users:
    """Viewers made on demand, one per scope (a token costs an argon2 hash)."""

    def __init__(self, company: Company) -> None:
        self.company = company
        self.tokens: dict[tuple[str, ...], str] = {}
        self.lock = threading.Lock()

    def token(self, teams: tuple[str, ...]) -> str:
        with self.lock:
            if teams not in self.tokens:
                with Store(self.company.lake).state() as con:
                    _, token = add_user(con, f"v{len(self.tokens)}", "viewer", teams=teams)
                self.tokens[teams] = token
            return self.tokens[teams]


@pytest.fixture(scope="module")
def users(company: Company) -> Users:
    return Users(company)


def reference(
    company: Company, teams: tuple[str, ...], filters: dict[str, list[str]]
) -> dict[str, Decimal]:
    """The lake's BilledCost for October and the teams, in plain SQL over allocated_costs."""
    where = [f"team IN ({', '.join(repr(t) for t in teams)})", "x_BillingPeriod = '2024-10'"]
    for word, values in filters.items():
        where.append(f"{COLUMN[word]} IN ({', '.join(repr(v) for v in values)})")
    rows = (
        Store(company.lake)
        .sql(
            f"SELECT BillingCurrency, sum(BilledCost) FROM allocated_costs WHERE {' AND '.join(where)} "
            "GROUP BY 1"
        )
        .rows
    )
    return {c: v for c, v in rows}


def query(filters: dict[str, list[str]]) -> str:
    return "".join(f"&{word}={value}" for word, values in filters.items() for value in values)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    teams=st.lists(st.sampled_from(TEAMS), min_size=1, max_size=3, unique=True).map(
        lambda t: tuple(sorted(t))
    ),
    filters=st.dictionaries(
        st.sampled_from(sorted(FILTERS)),
        st.just(None),
        max_size=2,
    ).flatmap(
        lambda words: st.fixed_dictionaries(
            {w: st.lists(st.sampled_from(FILTERS[w]), min_size=1, max_size=2, unique=True)
             for w in words}
        )
    ),
    endpoint=st.sampled_from(ENDPOINTS),
)  # fmt: skip
def test_a_viewer_sees_their_rows_only(  # type: ignore[no-untyped-def]
    shared_client, company: Company, users: Users, teams, filters, endpoint
) -> None:
    headers = {"Authorization": f"Bearer {users.token(teams)}"}
    outside = [t for t in filters.get("team", []) if t not in teams]
    takes_filters = endpoint in ("costs", "movers", "explain")
    url = {
        "costs": "/api/costs?by=team,service&period=2024-10",
        "movers": "/api/movers?by=team&period=2024-10&top=50",
        "explain": "/api/explain?baseline=2024-10-01..2024-10-07&compare=2024-10-08..2024-10-14"
        "&by=team&top=50",
        "showback": "/api/showback?by=team&period=2024-10",
        "chargeback": "/api/chargeback?period=2024-10",
        "anomalies": "/api/anomalies?",
        "tags": "/api/tags/coverage?by=team&period=2024-10",
    }[endpoint] + (query(filters) if takes_filters else "")
    response = shared_client.get(url, headers=headers)
    if takes_filters and outside:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["message"].startswith(f"team '{outside[0]}' is outside")
        return
    if response.status_code == 400:
        # A filter can select nothing (no such service in a currency): said, not a leak.
        assert endpoint == "explain", response.text
        assert response.json()["error"]["message"].startswith("No BilledCost in ")
        return
    assert response.status_code == 200, response.text
    body = response.json()
    check_rows(endpoint, body, teams)
    if endpoint == "costs":
        totals: dict[str, Decimal] = {}
        for row in body["rows"]:
            totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(
                row["BilledCost"]
            )
        assert {c: Decimal(v) for c, v in body["total_by_currency"].items()} == totals
        assert totals == reference(company, teams, filters)


def check_rows(endpoint: str, body: dict[str, Any], teams: tuple[str, ...]) -> None:
    if endpoint in ("costs", "movers", "showback", "tags"):
        assert {r["team"] for r in body["rows"]} <= set(teams)
    elif endpoint == "explain":
        assert {d["driver"] for d in body["drivers"]} <= set(teams)
    elif endpoint == "chargeback":
        for row in body["rows"]:
            assert set(row["teams"].split(" ")) <= set(teams)
    elif endpoint == "anomalies":
        for anomaly in body["rows"]:
            assert anomaly["dimension"] == "team" and anomaly["value"] in teams
