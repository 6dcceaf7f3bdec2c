"""The frame of `cloudtally serve`: credentials, sessions, CSRF, rate limits, headers, the
one error shape, the audit log, and new data without a restart."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient

from cloudtally.access import audit
from cloudtally.store import Store
from cloudtally.web.app import create_app
from cloudtally.web.security import CSP
from tests.web.company import Company, cli
from tests.web.conftest import bearer, client_for

UNAUTHORIZED = {
    "error": {
        "status": 401,
        "type": "unauthorized",
        "message": "Sign in first: send `Authorization: Bearer TOKEN` (from `cloudtally access "
        "add`) or sign in at /signin.",
    }
}


def test_health_answers_anyone_and_everything_else_needs_a_credential(shared_client) -> None:  # type: ignore[no-untyped-def]
    assert shared_client.get("/health").json() == {"status": "ok"}
    for path in ("/api/costs", "/api/openapi.json", "/api/me", "/api/anomalies", "/api/nowhere"):
        response = shared_client.get(path)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED), path
        assert response.headers["www-authenticate"] == 'Bearer realm="cloudtally"'
    # A page asks a browser to sign in (401 with the sign-in form), and shows no data.
    page = shared_client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 401
    assert '<form method="post" action="/signin">' in page.text
    assert "Overview" not in page.text
    assert shared_client.get("/signin").status_code == 200


def test_one_error_shape(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    pat = bearer(company, "pat")
    cases = {
        "/api/costs?by=service&team=web": (
            403,
            "forbidden",
            "team 'web' is outside what you may see (payments).",
        ),
        "/api/costs?by=sevrice": (
            400,
            "bad_request",
            "Unknown dimension 'sevrice'. Did you mean 'service'? Use one of provider, "
            "billing-account, account, service, service-category, service-subcategory, "
            "charge-category, pricing-category, region, resource, resource-type, sku, "
            "commitment, period, month, week, day, currency, team, product, cost_center, env, "
            "tag:KEY, or a FOCUS column name.",
        ),
        "/api/costs?top=0": (
            400,
            "bad_request",
            "query.top: Input should be greater than or equal to 1",
        ),
        "/api/costs?period=2031-01": (
            400,
            "bad_request",
            "No data in 2031-01: the lake holds 2024-07..2024-10 (charges from 2024-06-06 to "
            "2024-10-31). Choose a range inside it.",
        ),
        "/api/nowhere": (404, "not_found", "No such page or endpoint."),
        "/api/unallocated": (
            403,
            "forbidden",
            "Unallocated spend is shown to the admin and finops roles only.",
        ),
    }
    for path, (status, kind, message) in cases.items():
        response = shared_client.get(path, headers=pat)
        assert response.json() == {"error": {"status": status, "type": kind, "message": message}}, (
            path
        )
        assert response.status_code == status
    assert shared_client.post("/api/costs", headers=pat).json() == {
        "error": {
            "status": 405,
            "type": "method_not_allowed",
            "message": "Method not allowed here.",
        }
    }


def test_security_headers(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    data = shared_client.get("/api/costs", headers=bearer(company, "alice"))
    page = shared_client.get("/", headers=bearer(company, "alice"))
    static = shared_client.get("/static/app.css")
    for response in (data, page, static):
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert CSP.startswith("default-src 'none'; script-src 'self'; style-src 'self';")
    assert data.headers["cache-control"] == "no-store"
    assert page.headers["cache-control"] == "no-store"
    assert static.headers["cache-control"] == "public, max-age=3600"
    # No inline script: every <script> has a src, or is a JSON data block (never executed).
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "style=" not in page.text


def _signin(client: TestClient, **fields: str) -> httpx.Response:
    form = client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return client.post(
        "/signin", data={"csrf": csrf.group(1), "next": "/", **fields}, follow_redirects=False
    )


def test_signin_with_a_token_gives_a_strict_session_cookie(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    response = _signin(client, token=own_company.tokens["pat"])
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ct_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    me = client.get("/api/me").json()
    assert me == {
        "name": "pat",
        "role": "viewer",
        "teams": ["payments"],
        "products": [],
        "sees_unallocated": False,
    }
    # Changing something with the cookie needs the session's CSRF token.
    refused = client.post("/signout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    page = client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    assert (
        client.post("/signout", data={"csrf": token.group(1)}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/api/me").status_code == 401


def test_signin_with_a_password_and_the_rate_limit(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from cloudtally.cli import app

    result = CliRunner().invoke(
        app,
        ["--data-dir", str(own_company.lake), "access", "password", "wendy"],
        input="correct horse battery\ncorrect horse battery\n",
    )
    assert result.exit_code == 0, result.output
    for attempt in range(5):
        wrong = _signin(client, name="wendy", password=f"wrong password {attempt}")
        assert wrong.status_code == 401
        assert "were not recognised" in wrong.text
    # The sixth attempt in the minute is refused, even with the right password.
    limited = _signin(client, name="wendy", password="correct horse battery")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    fresh = client_for(own_company)
    ok = _signin(fresh, name="wendy", password="correct horse battery")
    assert ok.status_code == 303
    assert fresh.get("/api/me").json()["name"] == "wendy"


def test_signin_form_needs_its_own_csrf_cookie(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/signin", data={"csrf": "forged", "token": own_company.tokens["alice"]},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 403
    assert "ct_session" not in response.headers.get("set-cookie", "")


def test_next_never_leaves_the_site() -> None:
    from cloudtally.web.auth import safe_next

    assert [safe_next(t) for t in ("/anomalies?x=1", "//evil.example", "https://e.x", "", None)] == [
        "/anomalies?x=1", "/", "/", "/", "/",
    ]  # fmt: skip


def test_a_revoked_token_stops_at_once(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(own_company, "wendy")
    assert client.get("/api/me", headers=headers).status_code == 200
    cli(own_company.lake, "access", "revoke", "wendy")
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == (
        "The token is not valid (unknown, mistyped or revoked)."
    )


def test_every_access_is_audited_and_no_secret_is_stored(client, own_company: Company) -> None:  # type: ignore[no-untyped-def]
    client.get("/api/costs?by=team&period=2024-10", headers=bearer(own_company, "alice"))
    client.get("/api/costs?by=service&team=web", headers=bearer(own_company, "pat"))
    _signin(client, token=own_company.tokens["wendy"])
    with Store(own_company.lake).state() as con:
        found = audit.entries(con, limit=3)
    assert [(e.name, e.role, e.scope, e.action, e.target, e.outcome) for e in found] == [
        ("wendy", "viewer", "team=web,team=Data", "sign-in", "/signin", "served"),
        ("pat", "viewer", "team=payments", "GET", "/api/costs?by=service&team=web", "403"),
        ("alice", "admin", "all", "GET", "/api/costs?by=team&period=2024-10", "served"),
    ]
    printed = cli(own_company.lake, "access", "audit", "--user", "pat", "-f", "csv")
    assert printed.splitlines()[0] == "recorded_at,name,role,scope,action,target,outcome,client"
    assert ",pat,viewer,team=payments,GET,/api/costs?by=service&team=web,403," in printed
    state = (own_company.lake / "state.duckdb").read_bytes()
    wal = own_company.lake / "state.duckdb.wal"
    state += wal.read_bytes() if wal.exists() else b""
    for token in own_company.tokens.values():
        assert token.encode() not in state
        assert token[17:].encode() not in state  # the secret after ctk_<id>_


def test_new_data_is_served_without_a_restart(client, own_company: Company, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cloudtally.ingest.pipeline import ingest
    from tests.query.lake import Day, write_days

    alice = bearer(own_company, "alice")
    url = "/api/costs?by=provider&period=2024-10"
    before = {r["provider"]: r["BilledCost"] for r in client.get(url, headers=alice).json()["rows"]}
    ingest(
        Store(own_company.lake),
        [write_days(tmp_path / "late.csv", [Day("2024-10-03", "12.5", provider="gcp")])],
    )
    after = {r["provider"]: r["BilledCost"] for r in client.get(url, headers=alice).json()["rows"]}
    assert Decimal(after["gcp"]) - Decimal(before["gcp"]) == Decimal("12.5")
    assert after["aws"] == before["aws"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_binds_loopback_by_default(company: Company) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudtally", "--data-dir", str(company.lake), "serve",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert health.json() == {"status": "ok"}
        listening = Path("/proc/net/tcp").read_text()
        # 0100007F is 127.0.0.1 in /proc/net/tcp's byte order; 00000000 would be every address.
        assert f"0100007F:{port:04X}" in listening
        assert f"00000000:{port:04X}" not in listening
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_dimension_the_allocation_lacks_is_a_bad_request(
    company: Company, tmp_path: Path
) -> None:
    # Found by the fuzzing: a scoped viewer reads allocated_costs. Today it has every column of
    # costs, so the question is answered...
    response = client_for(company).get(
        "/api/costs?pricing-category=x", headers=bearer(company, "pat")
    )
    assert response.status_code == 200, response.text
    # ...but one published by an older cloudtally had no PricingCategory: a 400, not a 500.
    older = company.copy(tmp_path / "older")
    for path in (older.lake / "lake" / "_derived" / "allocated_costs").glob("*.parquet"):
        duckdb.execute(
            f"COPY (SELECT * EXCLUDE (PricingCategory) FROM read_parquet('{path}')) "
            f"TO '{path}.tmp' (FORMAT parquet)"
        )
        Path(f"{path}.tmp").replace(path)
    strict = TestClient(create_app(older.lake), raise_server_exceptions=True)
    response = strict.get("/api/costs?pricing-category=x", headers=bearer(older, "pat"))
    assert response.json() == {
        "error": {
            "status": 400,
            "type": "bad_request",
            "message": "This question cannot be answered from the data: Referenced column "
            '"PricingCategory" not found in FROM clause!',
        }
    }


def test_metrics_for_prometheus_need_an_unscoped_token(shared_client, company: Company) -> None:  # type: ignore[no-untyped-def]
    assert shared_client.get("/metrics").status_code == 401
    refused = shared_client.get("/metrics", headers=bearer(company, "pat"))
    assert refused.status_code == 403
    assert "/metrics holds every team&#39;s cost: admin and finops roles only." in refused.text
    scraped = shared_client.get("/metrics", headers=bearer(company, "alice"))
    assert scraped.status_code == 200
    assert (
        scraped.headers["content-type"]
        == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    assert scraped.text.endswith("# EOF\n")
    assert "# TYPE cloudtally_month_to_date_cost gauge" in scraped.text
