"""The shapes of the made-up company behind `cloudtally sample`, as declarative data; the
company itself, Acme Retail, is in `acme.py`.

Everything there is fixed: the seed changes the usage, never the organisation, so demos and docs can
name accounts and teams. The generator (`tables.py` and `charges.py`) turns these tables into SQL;
adding a service or an account is a one-line change in `acme.py`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

# ---------------------------------------------------------------------------------------------
# Shapes


@dataclass(frozen=True)
class Team:
    key: str  # the canonical tag value: payments
    cost_center: str
    products: tuple[str, ...]


@dataclass(frozen=True)
class Region:
    provider: str
    id: str
    name: str
    zones: tuple[str, ...] = ()  # empty: the provider does not report zones


@dataclass(frozen=True)
class SupportPlan:
    """A month-start support fee: a share of the month's usage, on day 1."""

    service_name: str
    description: str
    share_of_usage: Decimal
    sku_id: str
    account: str  # the sub account the fee is charged to


@dataclass(frozen=True)
class Provider:
    key: str  # aws | azure | gcp: output folder, and cloudtally's x_Provider
    name: str  # ProviderName; also PublisherName and InvoiceIssuerName (no marketplace rows)
    billing_account_id: str
    billing_account_name: str
    billing_account_type: str
    sub_account_type: str
    invoice_prefix: str
    # ContractedUnitPrice = ListUnitPrice * (1 - negotiated_discount): an enterprise agreement.
    negotiated_discount: Decimal
    tax_rate: Decimal
    support: SupportPlan
    lowercase_tag_keys: bool = False  # GCP labels only allow lower-case keys


@dataclass(frozen=True)
class Account:
    """A sub account: AWS linked account, Azure subscription, GCP project."""

    provider: str
    id: str
    name: str
    env: str  # prod | stage | dev
    team: str | None  # None: shared, its resources belong to many teams
    weight: float  # share of the company's resources
    regions: tuple[str, ...]  # primary first
    services: tuple[str, ...] | None = None  # None: every service its team uses
    untagged_boost: float = 0.0  # sandboxes are tagged worse than the rest


@dataclass(frozen=True)
class Sku:
    name: str  # m6i.large, gp3, Standard
    list_price: str  # USD per pricing unit, exact decimal text (at most 10 places)
    meter: str  # SkuMeter
    details: str = "{}"  # SkuPriceDetails, JSON object text (FOCUS 1.2 property names)


@dataclass(frozen=True)
class Service:
    """A billable service and how its resources use it day by day.

    Shapes: `hours` is instance hours (always on, or business hours with quieter weekends);
    `storage` is GB-Months that grow smoothly per resource; `usage` is a metered quantity
    with a weekend factor and log-normal day-to-day noise (`noise` is sigma).
    """

    provider: str
    name: str
    category: str  # FOCUS 1.2 ServiceCategory
    subcategory: str  # FOCUS 1.2 ServiceSubcategory, a child of `category`
    resource_type: str
    unit: str  # PricingUnit and ConsumedUnit, FOCUS unit format
    shape: str  # hours | storage | usage
    weight: float  # share of its provider's resources
    skus: tuple[Sku, ...]
    resource_id: str  # pattern: {account} {region} {zone} {name} {hex8} {hex17} {team} {env}
    stem: str  # part of resource names: payments-prod-api-000042
    base: tuple[float, float] = (1.0, 1.0)  # usage per day, or GB stored (storage); log-uniform
    weekend: float = 1.0  # usage shape: weekend factor
    noise: float = 0.1  # usage shape: sigma of the log-normal daily noise
    always_on: bool = False  # hours shape: always 24 h/day (databases, gateways)
    spot_share: float = 0.0  # share of dev/stage resources on spot (PricingCategory Dynamic)
    commitment_eligible: bool = False  # covered by the savings plan when always-on in prod
    teams: tuple[str, ...] | None = None  # only accounts of these teams use it
    regional: bool = True  # False: a global service, RegionId null
    zonal: bool = False  # reports an AvailabilityZone
    quantity_places: int = 6  # PricingQuantity decimal places (0 for counts)
    name_pattern: str = "{team}-{env}-{stem}-{n}"


@dataclass(frozen=True)
class SavingsPlan:
    """A spend-based commitment: daily purchase rows, covered usage, and the unused rest."""

    provider: str
    id: str
    name: str
    account: str  # the sub account that bought it
    service_name: str
    category: str
    subcategory: str
    type: str
    rate: Decimal  # covered price = ListUnitPrice * rate
    coverage: float  # share of eligible always-on prod resources it covers
    utilisation: Decimal  # used / commitment: commitment = covered usage / utilisation
    sku_id: str
    # Its term, for the Contract Commitment file `--commitments` writes: it started before the
    # window and ends this many days after the window's last day.
    ends_after_window_days: int = 150
    term_days: int = 365


@dataclass(frozen=True)
class Reservation:
    """A usage-based commitment for one SKU (reserved instance, reservation, resource-based
    CUD): `spare` units an hour beyond the always-on prod resources of that SKU it covers, so
    some hours go unused. Written only with `--commitments`.

    Covered usage costs ListUnitPrice * rate an hour (its EffectiveCost); `upfront_share` of
    that is paid by a one-time purchase at the start of the term, the rest by a daily recurring
    fee. A commitment bought upfront starts on the window's first day (its purchase is in the
    data); one without upfront started before and ends `ends_after_window_days` after."""

    provider: str
    id: str
    name: str
    account: str  # the sub account that bought it
    service: str  # the Service.name it covers
    sku: str  # the Sku.name it covers
    type: str  # CommitmentDiscountType
    rate: Decimal
    upfront_share: Decimal
    spare: int
    term_days: int
    ends_after_window_days: int | None = None  # None: the term starts on the window's first day


@dataclass(frozen=True)
class CreditProgram:
    """A credit: a share of one service's daily cost in some accounts given back."""

    provider: str
    description: str
    service: str
    accounts: tuple[str, ...]
    share: Decimal


@dataclass(frozen=True)
class Anomalies:
    """The planted anomalies (where; when is derived from the generated window)."""

    spike_team: str = "payments"
    spike_service: str = "Amazon Elastic Compute Cloud"
    spike_copies: int = 4  # extra instances per instance: x5 in total
    spike_days: int = 3
    spike_day_of_month: int = 12  # in the last month
    level_shift_service: str = "Amazon CloudWatch"
    level_shift_factor: float = 2.5
    level_shift_day_of_month: int = 20  # in the month before the last (the last if only one)
    new_service: str = "Amazon Bedrock"
    new_service_day_of_month: int = 5  # in the month before the last (the last if only one)
    new_service_ramp_days: int = 21


@dataclass(frozen=True)
class Habits:
    """How the company runs its resources, by environment (prod | stage | dev)."""

    # Instance hours a day for resources that are not always on: lo + floor(span * u), as
    # (weekday lo, weekday span, weekend lo, weekend span). Prod scales down a little at
    # weekends, dev a lot.
    schedules: dict[str, tuple[int, int, int, int]] = field(
        default_factory=lambda: {
            "prod": (16, 9, 10, 7),
            "stage": (10, 7, 1, 5),
            "dev": (8, 7, 1, 4),
        }
    )
    always_on_share: dict[str, float] = field(
        default_factory=lambda: {"prod": 0.7, "stage": 0.4, "dev": 0.3}
    )
    # Share of resources with no tags at all, and with tags but no team key. With tax and
    # support (never tagged) this leaves 15-20% of the cost without a team.
    untagged: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"prod": (0.03, 0.04), "stage": (0.05, 0.05), "dev": (0.07, 0.07)}
    )
    spot_price: Decimal = Decimal("0.35")  # spot price as a share of the list price
    corrections_per_month: int = 2  # per provider: refunds of the previous period


@dataclass(frozen=True)
class Organisation:
    company: str
    teams: tuple[Team, ...]
    providers: tuple[Provider, ...]
    regions: tuple[Region, ...]
    accounts: tuple[Account, ...]
    services: tuple[Service, ...]
    savings_plans: tuple[SavingsPlan, ...]
    credits: tuple[CreditProgram, ...]
    reservations: tuple[Reservation, ...] = ()  # written only with `--commitments`
    anomalies: Anomalies = field(default_factory=Anomalies)
    habits: Habits = field(default_factory=Habits)
    # Resources at scale 1 at the end of the window (earlier months have fewer: growth).
    resources_per_scale: int = 1640
    monthly_growth: float = 0.03
    growth_horizon_months: int = 24  # resources older than this exist in every generated month


# ---------------------------------------------------------------------------------------------
# Stable identifiers derived from names (never from the seed)


def aws_account_id(name: str) -> str:
    """A 12-digit AWS account id; about one in ten starts with a zero, as real ones do.

    >>> aws_account_id("payments-prod")
    '817838826067'
    """
    digits = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10**12
    return f"{digits:012d}"


def azure_subscription_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.acme-retail.example"))


def sku_id(provider: str, service: str, sku: str) -> str:
    digest = hashlib.sha256(f"{provider}|{service}|{sku}".encode()).hexdigest().upper()
    return digest[:14] if provider == "aws" else f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def details(**values: object) -> str:
    import json

    return json.dumps(values, separators=(",", ":"))
