"""Monitor rules (`rules/monitors.yaml`): what to watch, how sure to be, who to tell.

    defaults:
      thresholds: {z: 5, min_impact: 100, min_relative: 0.2}
    monitors:
      - name: services
        dimensions: [ServiceName]
        filters: {provider: aws}
        owner: platform                       # when the team cannot be found
        owners: {Amazon Bedrock: ml}          # value -> owning team
        derived: [AWS Support (Business)]     # charges that follow the others, like tax
        notify: [finops-slack]
    teams:
      ml: {notify: [ml-slack, jira]}
    destinations:
      finops-slack: {type: slack, url_env: SLACK_FINOPS_URL}

Loaded with `load_model` (unknown keys are errors with file and line); references between
sections (a monitor naming an unknown destination) are checked together and reported at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloudtally.anomaly.detector import Thresholds
from cloudtally.errors import CloudtallyError
from cloudtally.rules.yaml_loader import Problems


class AnomalyError(CloudtallyError, ValueError):
    """An anomaly command cannot do what was asked (unknown id, bad date, ...)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ThresholdsModel(_Strict):
    z: float = Field(6.5, gt=0)
    min_impact: float = Field(50.0, ge=0)
    min_relative: float = Field(0.3, ge=0)
    new_spend_min: float = Field(50.0, ge=0)
    shift_days: int = Field(4, ge=2)
    # A recurring charge (a fee on the 1st, ...) alerts above this x its last occurrences.
    recurring_ratio: float = Field(2.2, gt=1)

    def thresholds(self) -> Thresholds:
        return Thresholds(
            z=self.z,
            min_impact=self.min_impact,
            min_relative=self.min_relative,
            new_spend_min=self.new_spend_min,
            shift_days=self.shift_days,
            recurring_ratio=self.recurring_ratio,
        )


class MonitorModel(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dimensions: list[str] = Field(default_factory=list)  # [] watches the total
    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    metric: str = "BilledCost"
    thresholds: ThresholdsModel | None = None
    owner: str | None = None
    owners: dict[str, str] = Field(default_factory=dict)
    notify: list[str] = Field(default_factory=list)
    # Values whose charges are derived from the others (a support fee billed as a share of
    # spend): when they rise with another anomaly of this monitor they are attached to it.
    # Tax (FOCUS ChargeCategory Tax) is recognised from the data.
    derived: list[str] = Field(default_factory=list)


class TeamModel(_Strict):
    notify: list[str] = Field(default_factory=list)


# One line of plain text: a host, an address or a name that goes into a header.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


class _Destination(_Strict):
    # Secrets are never written in the rules: name an environment variable (`*_env`) or a key
    # of the secrets file (`*_secret`).
    retries: int = Field(3, ge=0, le=10)
    timeout: float = Field(10.0, gt=0, le=120)
    # TLS certificates are always verified, against the system's CAs (or SSL_CERT_FILE); a
    # server with a private or self-signed certificate is trusted by naming its CA bundle.
    ca_bundle: Path | None = None


class SlackDestination(_Destination):
    type: Literal["slack"]
    url_env: str | None = None
    url_secret: str | None = None


class TeamsDestination(_Destination):
    type: Literal["teams"]
    url_env: str | None = None
    url_secret: str | None = None


class WebhookDestination(_Destination):
    type: Literal["webhook"]
    url_env: str | None = None
    url_secret: str | None = None
    token_env: str | None = None  # sent as `Authorization: Bearer ...`
    token_secret: str | None = None


class EmailDestination(_Destination):
    type: Literal["email"]
    host: str = Field(pattern=ONE_LINE, min_length=1)
    port: int = Field(587, ge=1, le=65535)
    sender: str = Field(pattern=ONE_LINE, min_length=1)
    to: list[Annotated[str, Field(pattern=ONE_LINE, min_length=1)]] = Field(min_length=1)
    starttls: bool = True  # without it, no username or password is sent
    username_env: str | None = None
    username_secret: str | None = None
    password_env: str | None = None
    password_secret: str | None = None


class JiraDestination(_Destination):
    type: Literal["jira"]
    url: str  # https://yourcompany.atlassian.net
    project: str
    issue_type: str = "Task"
    labels: list[str] = Field(default_factory=lambda: ["cloudtally", "cost-anomaly"])
    user_env: str | None = None
    user_secret: str | None = None
    token_env: str | None = None
    token_secret: str | None = None


class ServiceNowDestination(_Destination):
    type: Literal["servicenow"]
    url: str  # https://yourinstance.service-now.com
    assignment_group: str | None = None
    user_env: str | None = None
    user_secret: str | None = None
    password_env: str | None = None
    password_secret: str | None = None


Destination = Annotated[
    SlackDestination
    | TeamsDestination
    | WebhookDestination
    | EmailDestination
    | JiraDestination
    | ServiceNowDestination,
    Field(discriminator="type"),
]


class DefaultsModel(_Strict):
    thresholds: ThresholdsModel = Field(default_factory=lambda: ThresholdsModel())  # type: ignore[call-arg]


class MonitorsFile(_Strict):
    defaults: DefaultsModel = Field(default_factory=DefaultsModel)
    monitors: list[MonitorModel] = Field(default_factory=list)
    teams: dict[str, TeamModel] = Field(default_factory=dict)
    destinations: dict[str, Destination] = Field(default_factory=dict)

    def thresholds_of(self, monitor: MonitorModel) -> Thresholds:
        return (monitor.thresholds or self.defaults.thresholds).thresholds()

    def monitor(self, name: str) -> MonitorModel:
        for monitor in self.monitors:
            if monitor.name == name:
                return monitor
        known = ", ".join(m.name for m in self.monitors) or "none"
        raise AnomalyError(f"No monitor named {name!r} (monitors: {known}).")


def check_monitors(path: Path, problems: Problems) -> MonitorsFile | None:
    """Validate a monitors file, schema and references between its sections; problems are
    added with file, line and key. None when there are any."""
    before = len(problems)
    rules, node = problems.load(path, MonitorsFile)
    if rules is None:
        return None
    first: dict[str, int] = {}
    for n, monitor in enumerate(rules.monitors):
        if monitor.name in first:
            problems.add(
                path,
                node,
                ("monitors", n, "name"),
                f"monitor {monitor.name!r} is defined more than once (also monitors.{first[monitor.name]})",
            )
        first.setdefault(monitor.name, n)
        for k, target in enumerate(monitor.notify):
            if target not in rules.destinations:
                problems.add(
                    path,
                    node,
                    ("monitors", n, "notify", k),
                    f"monitor {monitor.name!r} notifies unknown destination {target!r}"
                    f"{_known(rules)}",
                )
    for team, model in rules.teams.items():
        for k, target in enumerate(model.notify):
            if target not in rules.destinations:
                problems.add(
                    path,
                    node,
                    ("teams", team, "notify", k),
                    f"team {team!r} notifies unknown destination {target!r}{_known(rules)}",
                )
    return rules if len(problems) == before else None


def _known(rules: MonitorsFile) -> str:
    return f" (destinations: {', '.join(rules.destinations) or 'none'})"


def load_monitors(path: Path) -> MonitorsFile:
    """Load and cross-check a monitors file; every problem is reported at once."""
    problems = Problems()
    rules = check_monitors(path, problems)
    problems.raise_if_any(path)
    assert rules is not None
    return rules
