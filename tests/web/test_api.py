"""The API answers what the CLI prints: the same rows, byte for byte, for the same question."""

from __future__ import annotations

import json

import pytest

from tests.web.company import MONITORS, RULES, Company, cli
from tests.web.conftest import bearer

# (API path, CLI arguments) asking the same question.
SAME_QUESTIONS = [
    (
        "/api/costs?by=service&period=2024-10&metric=EffectiveCost&top=10",
        ["costs", "--by", "service", "--period", "2024-10", "--metric", "EffectiveCost",
         "--top", "10"],
    ),
    (
        "/api/costs?by=team,env&period=2024-W41&service=Amazon%20Elastic%20Compute%20Cloud",
        ["costs", "--by", "team,env", "--period", "2024-W41", "--where",
         "service=Amazon Elastic Compute Cloud"],
    ),
    (
        "/api/costs?by=account&since=2024-10-01&until=2024-10-09&team=payments&team=web",
        ["costs", "--by", "account", "--since", "2024-10-01", "--until", "2024-10-09",
         "--where", "team=payments", "--where", "team=web"],
    ),
    (
        "/api/movers?by=service,account&period=2024-10&top=5",
        ["movers", "--by", "service,account", "--period", "2024-10", "--top", "5"],
    ),
    (
        "/api/showback?by=product&period=2024-09",
        ["showback", "--by", "product", "--period", "2024-09"],
    ),
    ("/api/chargeback?period=2024-10", ["chargeback", "--period", "2024-10"]),
    ("/api/anomalies?status=open", ["anomalies", "list", "--status", "open"]),
    (
        "/api/tags/coverage?by=team&period=2024-10",
        ["tags", "coverage", "--rules", str(RULES), "--by", "team", "--period", "2024-10"],
    ),
    (
        "/api/tags/exceptions?period=2024-10&top=5",
        ["tags", "exceptions", "--rules", str(RULES), "--period", "2024-10", "--top", "5"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("path", "args"), SAME_QUESTIONS, ids=[q[0] for q in SAME_QUESTIONS])
def test_the_api_rows_are_what_the_cli_prints(  # type: ignore[no-untyped-def]
    shared_client, company: Company, path: str, args: list[str]
) -> None:
    response = shared_client.get(path, headers=bearer(company, "alice"))
    assert response.status_code == 200, response.text
    printed = cli(company.lake, *args, "--format", "json")
    assert json.dumps(response.json()["rows"], indent=2) + "\n" == printed
    assert response.json()["rows"], "a question with no rows proves nothing"


def test_explain_is_the_cli_document(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    path = (
        "/api/explain?baseline=2024-10-05..2024-10-11&compare=2024-10-12..2024-10-14"
        "&by=service&top=3&team=payments"
    )
    response = shared_client.get(path, headers=bearer(company, "alice"))
    printed = cli(
        company.lake, "explain", "--baseline", "2024-10-05..2024-10-11", "--compare",
        "2024-10-12..2024-10-14", "--by", "service", "--top", "3", "--where", "team=payments",
        "--format", "json",
    )  # fmt: skip
    assert json.dumps(response.json(), indent=2) + "\n" == printed
    assert response.json()["drivers"][0]["driver"] == "Amazon Elastic Compute Cloud"


def test_a_scoped_viewer_gets_their_rows_and_a_403_for_another_team(  # type: ignore[no-untyped-def]
    shared_client, company: Company
) -> None:
    pat = bearer(company, "pat")
    mine = shared_client.get("/api/costs?by=team&period=2024-10", headers=pat).json()
    assert [(r["team"], r["EffectiveCost"] if "EffectiveCost" in r else r["BilledCost"])
            for r in mine["rows"]] == [("payments", mine["rows"][0]["BilledCost"])]  # fmt: skip
    # The viewer's total is their team's, shared costs included: what showback says.
    showback = json.loads(
        cli(company.lake, "showback", "--by", "team", "--period", "2024-10", "--metric",
            "BilledCost", "--format", "json")
    )  # fmt: skip
    assert mine["total_by_currency"] == {
        "USD": next(r["total"] for r in showback if r["team"] == "payments")
    }
    assert (
        shared_client.get("/api/showback?period=2024-10", headers=pat).json()["rows"][0]["team"]
        == "payments"
    )
    for path in (
        "/api/costs?team=web",
        "/api/costs?team=payments&team=web",
        "/api/movers?team=data",
        "/api/explain?baseline=2024-10-01&compare=2024-10-02&team=web",
        "/api/unallocated",
    ):
        assert shared_client.get(path, headers=pat).status_code == 403, path
    # Another viewer's team names are normalised like the tags (`--team Data` is `data`).
    wendy = shared_client.get("/api/me", headers=bearer(company, "wendy")).json()
    assert wendy["teams"] == ["web", "data"]


def test_anomalies_of_other_teams_are_not_listed_and_not_reachable(  # type: ignore[no-untyped-def]
    shared_client, company: Company
) -> None:
    everyone = shared_client.get("/api/anomalies", headers=bearer(company, "alice")).json()
    listed = shared_client.get("/api/anomalies", headers=bearer(company, "pat")).json()
    assert [(a["dimension"], a["value"]) for a in listed["rows"]] == [("team", "payments")]
    hidden = [a["id"] for a in everyone["rows"] if a["dimension"] != "team"]
    assert hidden
    response = shared_client.get(f"/api/anomalies/{hidden[0]}", headers=bearer(company, "pat"))
    assert response.status_code == 403
    assert (
        response.json()["error"]["message"] == f"Anomaly {hidden[0]} is outside what you may see."
    )


def test_triage_through_the_api(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    pat = bearer(own_company, "pat")
    mine = client.get("/api/anomalies", headers=pat).json()["rows"][0]
    acked = client.post(f"/api/anomalies/{mine['id']}/ack", data={"note": "on it"}, headers=pat)
    # payments' spike is the same event as the services monitor's EC2 spike: explained by it.
    assert acked.json() == {
        "id": mine["id"],
        "status_from": "explained",
        "status": "acknowledged",
    }
    listed = json.loads(cli(own_company.lake, "anomalies", "list", "--format", "json"))
    assert next(a for a in listed if a["id"] == mine["id"])["status"] == "acknowledged"
    fed = client.post(
        f"/api/anomalies/{mine['id']}/feedback", data={"kind": "expected"}, headers=pat
    )
    assert fed.json() == {"id": mine["id"], "feedback": "expected", "status": "resolved"}
    other = next(
        a["id"]
        for a in client.get("/api/anomalies", headers=bearer(own_company, "alice")).json()["rows"]
        if a["dimension"] != "team"
    )
    assert client.post(f"/api/anomalies/{other}/ack", headers=pat).status_code == 403
    assert MONITORS.exists()


def test_openapi_documents_every_endpoint_and_the_filters(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    document = shared_client.get("/api/openapi.json", headers=bearer(company, "pat")).json()
    assert sorted(document["paths"]) == [
        "/api/anomalies",
        "/api/anomalies/{anomaly_id}",
        "/api/anomalies/{anomaly_id}/ack",
        "/api/anomalies/{anomaly_id}/feedback",
        "/api/anomalies/{anomaly_id}/resolve",
        "/api/chargeback",
        "/api/costs",
        "/api/explain",
        "/api/me",
        "/api/movers",
        "/api/showback",
        "/api/tags/coverage",
        "/api/tags/exceptions",
        "/api/unallocated",
    ]
    costs = document["paths"]["/api/costs"]["get"]
    names = [p["name"] for p in costs["parameters"]]
    assert {"by", "period", "metric", "top", "team", "product", "env", "service"} <= set(names)
    assert document["components"]["securitySchemes"] == {
        "token": {"type": "http", "scheme": "bearer"}
    }
