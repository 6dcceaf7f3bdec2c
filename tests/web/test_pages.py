"""The pages, in-process: each renders for each role, shows the query layer's numbers, and
keeps a viewer inside their scope; CSV downloads are what the CLI writes."""

from __future__ import annotations

import re

import pytest

from tests.web.company import RULES, Company, cli
from tests.web.conftest import bearer

PAGES = ["/", "/explorer", "/explorer?h=owner&by=team&grain=week", "/anomalies",
         "/anomalies?status=all", "/tags", "/allocation", "/allocation?by=product", "/docs",
         "/docs/dashboard", "/docs/security"]  # fmt: skip


@pytest.mark.parametrize("name", ["alice", "pat"])
def test_every_page_renders(shared_client, company: Company, name: str) -> None:  # type: ignore[no-untyped-def]
    for path in PAGES:
        response = shared_client.get(path, headers=bearer(company, name))
        assert response.status_code == 200, (path, response.text[:500])
        assert "<main>" in response.text
        for tag in re.findall(r"<script[^>]*>", response.text):
            assert 'src="/static/' in tag or 'type="application/json"' in tag, (path, tag)
    health = shared_client.get("/health/data", headers=bearer(company, name))
    assert health.status_code == (200 if name == "alice" else 403)


def test_the_explorer_csv_is_what_costs_writes(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    url = "/explorer.csv?h=infra&by=service&metric=BilledCost&period=2024-10&provider=aws"
    response = shared_client.get(url, headers=bearer(company, "alice"))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="costs-by-service-2024-10.csv"'
    )
    printed = cli(company.lake, "costs", "--by", "service", "--metric", "BilledCost", "--period",
                  "2024-10", "--where", "provider=aws", "--format", "csv")  # fmt: skip
    assert response.text == printed


def test_a_viewer_drills_only_inside_their_scope(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    pat = bearer(company, "pat")
    page = shared_client.get("/explorer?h=owner&period=2024-10", headers=pat)
    drills = re.findall(r'href="/explorer\?([^"]+)" data-testid="drill">([^<]+)<', page.text)
    assert [label for _, label in drills] == ["payments"]
    assert "by=product" in drills[0][0] and "team=payments" in drills[0][0]
    csv = shared_client.get("/explorer.csv?h=owner&by=team&period=2024-10", headers=pat).text
    assert [line.split(",")[0] for line in csv.splitlines()] == ["team", "payments"]
    refused = shared_client.get("/explorer?h=owner&by=product&team=search", headers=pat)
    assert refused.status_code == 403
    assert "team &#39;search&#39; is outside what you may see (payments)." in refused.text
    chargeback = shared_client.get("/allocation/chargeback.csv?period=2024-10", headers=pat).text
    assert chargeback.splitlines()[0] == "period,cost_center,currency,direct,shared,total,teams"
    assert {line.rsplit(",", 1)[1] for line in chargeback.splitlines()[1:]} == {"payments"}
    allocation = shared_client.get("/allocation", headers=pat).text
    assert "Unallocated and why" not in allocation
    assert (
        "Unallocated and why"
        in shared_client.get("/allocation", headers=bearer(company, "fin")).text
    )


def test_the_chargeback_download_is_what_chargeback_writes(
    shared_client, company: Company, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cb.csv"
    cli(company.lake, "chargeback", "--period", "2024-10", "--out", str(out))
    response = shared_client.get("/allocation/chargeback.csv?period=2024-10",
                                 headers=bearer(company, "alice"))  # fmt: skip
    assert response.text == out.read_text()


def test_triage_from_the_page_with_a_session(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    form = client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    client.post("/signin", data={"csrf": csrf.group(1), "token": own_company.tokens["pat"]})
    listed = client.get("/anomalies").text
    ids = re.findall(r'href="/anomalies/(a[0-9a-f]{9})"', listed)
    assert len(ids) == 1
    page = client.get(f"/anomalies/{ids[0]}").text
    assert "What changed against the week before" in page
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert session_csrf is not None
    forged = client.post(f"/anomalies/{ids[0]}", data={"action": "ack", "csrf": "x"})
    assert forged.status_code == 403
    done = client.post(
        f"/anomalies/{ids[0]}",
        data={"action": "assign", "owner": "payments-oncall", "csrf": session_csrf.group(1)},
    )
    assert done.status_code == 200  # followed the redirect to the anomaly
    assert "payments-oncall" in done.text
    client.post(f"/anomalies/{ids[0]}", data={"action": "ack", "csrf": session_csrf.group(1)})
    import json

    stored = json.loads(cli(own_company.lake, "anomalies", "list", "--format", "json"))
    mine = next(a for a in stored if a["id"] == ids[0])
    assert (mine["status"], mine["owner"]) == ("acknowledged", "payments-oncall")
    assert RULES.exists()


def test_the_kpi_page_is_for_admin_and_finops(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    page = shared_client.get("/kpis?period=2024-10", headers=bearer(company, "fin"))
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>", page.text)
    assert rows[0] == "Unallocated spend"
    assert shared_client.get("/kpis", headers=bearer(company, "pat")).status_code == 403


def test_evidence_numbers_are_not_shown_as_shares(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    listed = shared_client.get("/api/anomalies", headers=bearer(company, "alice")).json()["rows"]
    anomaly = next(a for a in listed if a["evidence"])
    page = shared_client.get(f"/anomalies/{anomaly['id']}", headers=bearer(company, "alice")).text
    evidence = page[page.index("Evidence: line items") : page.index("What changed against")]
    first = anomaly["evidence"][0]
    numbers = [v for v in first.values() if isinstance(v, float)]
    assert numbers
    for value in numbers:
        assert f">{value:,.6g}<" in evidence
    assert "%" not in evidence


def test_the_tags_cards_show_shares_and_uncovered_cost_as_money(
    shared_client, company: Company
) -> None:  # type: ignore[no-untyped-def]
    page = shared_client.get("/tags?period=2024-10", headers=bearer(company, "alice")).text
    cards = dict(
        re.findall(r'<div class="label">([^<]+) · USD</div><div class="value">([^<]+)</div>', page)
    )
    assert cards["tag:team"] == "83.3%"
    assert cards["uncovered:team"] == "12,389.70"
    assert "%" not in cards["uncovered"]
