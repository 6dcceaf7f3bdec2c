"""Commitment alerts: low and falling utilization, low and falling coverage, expiry; routed
through the monitors' destinations to real servers on 127.0.0.1, each alert sent once."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.anomaly import notify
from cloudtally.anomaly.config import load_monitors
from cloudtally.anomaly.notify import Secrets
from cloudtally.commitments.alerts import CommitmentRules, deliver, find_alerts, load_rules
from cloudtally.errors import RuleError
from cloudtally.store import Store
from tests.anomaly.test_notify import Recorder, http  # noqa: F401  (the server fixture)
from tests.commitments.helpers import builder, store_of

M = builder()
D = Decimal
RDS = "arn:aws:rds:us-east-1:004218837459:ri:acme-db-r6g-large-2024"
EC2 = "arn:aws:ec2:us-east-1:004218837459:reserved-instances/0b7e4c1a-6d2f-4e8a-9c3b-5a1f2e3d4c5b"
AZURE = (
    "/providers/Microsoft.Capacity/reservationOrders/7c1d9e2f-3a4b-4c5d-8e6f-9a0b1c2d3e4f"
    "/reservations/1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
)


def test_the_sample_company_raises_these_alerts(acme: Store) -> None:
    found = [
        (a.kind, a.subject, a.actual, a.expected, a.day)
        for a in find_alerts(acme, CommitmentRules())
    ]
    assert found == [
        ("low-utilization", AZURE, D("19.3536"), D("7.74"), date(2024, 10, 25)),
        ("low-utilization", EC2, D("19.99872"), D("16.00"), date(2024, 10, 25)),
        ("low-utilization", RDS, D("49.896"), D("14.97"), date(2024, 10, 25)),
        ("low-coverage", "aws", D("5395.524048"), D("2819.21"), date(2024, 10, 25)),
        ("low-coverage", "azure", D("1047.8158"), D("431.38"), date(2024, 10, 25)),
        ("low-coverage", "gcp", D("357.38747358"), D("142.95"), date(2024, 10, 25)),
        ("expiring", EC2, D("402.83136"), D("354.26304"), date(2024, 11, 21)),
    ]


def test_falling_utilization_and_coverage_week_on_week(tmp_path: Path) -> None:
    # A reservation of 2 VM_LARGE: both run in the first week, one in the second, when an
    # on-demand VM_MEDIUM starts too.
    rows = M.Rows()
    ri = M.reservation("VM_LARGE", "Hours")
    for day in range(14):
        at = (f"2023-01-{day + 1:02d}T00:00:00Z", f"2023-01-{day + 2:02d}T00:00:00Z")
        rows.purchase(ri, D("72"), D("48"), period=at)
        running = 2 if day < 7 else 1
        for k in range(running):
            rows.used(ri, "VM_LARGE", f"vm-{k}", D(24), D(24), at)
        if running < 2:
            rows.unused(ri, D("36"), D("24"), at)
            rows.on_demand("VM_MEDIUM", "vm-medium", D(24), at)
    store = store_of(tmp_path / "lake", M.write_rows(tmp_path / "rows.csv", rows))
    rules = CommitmentRules.model_validate({"alerts": {"utilization": {"below": 0.4}}})
    found = {(a.kind, a.subject): a for a in find_alerts(store, rules)}
    assert sorted(found) == [("coverage-drop", "tinycloud"), ("utilization-drop", ri.id)]
    drop = found[("utilization-drop", ri.id)]
    assert (drop.headline, drop.actual, drop.expected) == (
        "Utilization fell from 100.0% to 50.0% in a week, unused cost",
        D("252"),
        D("0"),
    )
    coverage = found[("coverage-drop", "tinycloud")]
    assert coverage.headline == (
        "Commitment coverage fell from 100.0% to 60.0% in a week, uncovered cost"
    )
    # the uncovered on-demand cost this week (7 x 48) against none the week before
    assert (coverage.actual, coverage.expected) == (D("336"), D("0"))


def write_rules(folder: Path, http_url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "monitors.yaml").write_text(
        "teams:\n  payments: {notify: [payments-hook]}\n"
        "destinations:\n"
        "  finops-slack: {type: slack, url_env: TEST_SLACK_URL, retries: 0}\n"
        "  payments-hook: {type: webhook, url_env: TEST_HOOK_URL, retries: 0}\n",
        encoding="utf-8",
    )
    (folder / "commitments.yaml").write_text(
        f"notify: [finops-slack]\nowners: {{'{RDS}': payments}}\n"
        "alerts:\n  coverage: {below: 0.01}\n",
        encoding="utf-8",
    )


def test_alerts_go_to_their_destinations_once(acme: Store, http: Recorder, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "rules"
    write_rules(folder, http.url)
    rules = load_rules(folder)
    monitors = load_monitors(folder / "monitors.yaml")
    secrets = Secrets({"TEST_SLACK_URL": http.url + "/slack", "TEST_HOOK_URL": http.url + "/hook"})
    found = find_alerts(acme, rules)
    assert [a.kind for a in found] == ["low-utilization"] * 3 + ["low-coverage", "expiring"]
    dry = deliver(acme, found, rules, monitors, secrets, dry_run=True)
    assert [(d.destination, d.outcome) for d in dry] == [
        ("finops-slack", "would send"),
        ("finops-slack", "would send"),
        ("payments-hook", "would send"),
        ("finops-slack", "would send"),
        ("finops-slack", "would send"),
    ]
    assert http.requests == []
    sent = deliver(acme, found, rules, monitors, secrets)
    assert [d.outcome for d in sent] == ["sent (1 attempt(s))"] * 5
    assert [path for path, _, _ in http.requests] == [
        "/slack",
        "/slack",
        "/hook",
        "/slack",
        "/slack",
    ]
    rds = next(a for a in found if a.subject == RDS)
    hook = next(body for path, _, body in http.requests if path == "/hook")
    assert hook == json.loads(json.dumps(notify.webhook_payload(rds.message())))
    assert hook["anomaly"]["kind"] == "Utilization 33.3% (below 80.0%), unused cost"
    slack = http.requests[0][2]
    assert slack["text"] == (
        "Utilization 50.0% (below 80.0%), unused cost in commitment D4s v5 1 year reservation: "
        "19.35 vs 7.74 expected (+11.61, +150%, 7 days so far) [commitments]"
    )
    again = deliver(acme, found, rules, monitors, secrets)
    assert {d.outcome for d in again} == {"already sent"}
    assert len(http.requests) == 5


def test_a_typo_in_commitments_yaml_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "commitments.yaml").write_text(
        "alerts:\n  utilization: {belwo: 0.7}\n", encoding="utf-8"
    )
    with pytest.raises(RuleError) as raised:
        load_rules(tmp_path)
    assert f"{tmp_path / 'commitments.yaml'}:2:" in str(raised.value)
    assert "belwo" in str(raised.value)


def test_an_unknown_destination_is_refused(acme: Store, tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    write_rules(folder, "http://127.0.0.1:9")
    (folder / "commitments.yaml").write_text("notify: [nowhere]\n", encoding="utf-8")
    with pytest.raises(RuleError, match="notifies unknown destination\\(s\\) nowhere"):
        deliver(acme, [], load_rules(folder), load_monitors(folder / "monitors.yaml"), Secrets({}))
