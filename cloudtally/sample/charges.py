"""The SQL of each kind of charge in a provider-month: the usage of the resources over the
days (with the planted spike), and the small rows: the savings plan's purchase and unused
commitment, the support fee, taxes, credits and corrections of the previous period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cloudtally.ingest.formats.base import literal
from cloudtally.sample.engine import RESOURCES
from cloudtally.sample.organisation import Organisation, Provider, Reservation, sku_id
from cloudtally.sample.sql import (
    account_day_columns,
    by_service,
    commitment_columns,
    cost_columns,
    focus_select,
    money,
    name_fields,
    pattern_sql,
    provider_columns,
    reservation_columns,
    service_columns,
)
from cloudtally.sample.tables import Commitments, SizedReservation
from cloudtally.sample.window import Window, add_months, days_sql


@dataclass(frozen=True)
class Charges:
    """The SQL of one sample's rows, by kind of charge: each method returns SELECTs."""

    org: Organisation
    window: Window
    seed: int
    scale: float
    commitments: Commitments
    reservations: tuple[SizedReservation, ...] = ()  # only with `--commitments`

    # -- resource rows: the big, streamed part -------------------------------------------------

    def costed_rows(self, provider: Provider, first: date) -> str:
        """Resource-day rows with quantity and the four costs (exact DECIMAL(38,16) products),
        plus the spike's extra instances. Resources are expanded over the days with `unnest`."""
        plan, seed = self.org.anomalies, self.seed
        of_provider = f"provider = {literal(provider.key)}"
        hours = (
            "CASE WHEN d.weekend THEN we_lo + floor(we_span * sample_u(h1, 0)) "
            "ELSE wk_lo + floor(wk_span * sample_u(h1, 0)) END"
        )
        # Log-normal noise with mean 1; z is Irwin-Hall of three uniforms, scaled to sd 1.
        z = "(sample_u(h1, 1) + sample_u(h1, 2) + sample_u(h2, 0) - 1.5) * 2"
        usage = f"base * CASE WHEN d.weekend THEN weekend ELSE 1 END * exp(noise * {z} - noise * noise / 2)"
        storage = "base * pow(1 + growth, -d.tau) / d.days_in_month"
        quantity = (
            f"CASE shape WHEN 0 THEN {hours} WHEN 1 THEN {storage} ELSE {usage} END"
            f" * CASE WHEN level_shift AND d.level_shift_on THEN {plan.level_shift_factor!r} ELSE 1 END"
            # a new service ramps up linearly from its first day
            " * CASE WHEN ramp_days > 0"
            " THEN least(1.0, (d.day_number - birth_number + 1) / ramp_days) ELSE 1 END"
        )
        columns = (
            "rid, account_idx, service_idx, sub_account_id, sub_account_name, sub_account_type, "
            "invoice_prefix, service_name, service_category, service_subcategory, resource_type, "
            "unit, sku_id, sku_meter, sku_details, region_id, region_name, az, tags, list_price, "
            "reserved"
        )
        burst_ids = by_service(
            self.org,
            lambda s: pattern_sql(
                s.resource_id,
                {**name_fields("burst_hex"), "name": "burst_name"},
            ),
        )
        alive = "x.day_number >= birth_number"
        days = days_sql(self.window, plan, first, alive)
        spike_days = days_sql(self.window, plan, first, f"x.spike_on AND {alive}")
        return f"""
            SELECT *,
                   quantity * list_price AS list_cost,
                   quantity * contracted_price AS contracted_cost,
                   CASE WHEN pricing >= 2 THEN quantity * committed_price
                        ELSE quantity * contracted_price END AS effective_cost,
                   CASE WHEN pricing >= 2 THEN 0 ELSE quantity * contracted_price END AS billed_cost
            FROM (
                SELECT {columns}, resource_id, resource_name, pricing, sku_price_id,
                       charge_description, contracted_price, committed_price, d,
                       CAST(round({quantity}, CAST(places AS INTEGER)) AS DECIMAL(38,6)) AS quantity
                FROM (
                    SELECT *, sample_hash(hash({seed}, rid, d.day_number), 1) AS h1,
                              sample_hash(hash({seed}, rid, d.day_number), 2) AS h2
                    FROM (SELECT *, unnest({days}) AS d
                          FROM {RESOURCES} WHERE {of_provider})
                )
                UNION ALL
                -- the spike: on-demand copies of one team's instances, all day, for a few days
                SELECT {columns}, {burst_ids}, burst_name, 0, price_id_standard, desc_standard,
                       standard_price, CAST(NULL AS DECIMAL(18,10)), d, CAST(24 AS DECIMAL(38,6))
                FROM (
                    SELECT *, resource_name || '-asg-' || CAST(burst AS VARCHAR) AS burst_name,
                           md5({literal(str(seed))} || '-burst-' || CAST(rid AS VARCHAR) || '-'
                               || CAST(burst AS VARCHAR)) AS burst_hex
                    FROM (
                        SELECT *, unnest(range(1, {plan.spike_copies + 1})) AS burst
                        FROM (SELECT *, unnest({spike_days}) AS d
                              FROM {RESOURCES} WHERE {of_provider} AND spike)
                    )
                )
            )
        """

    def usage_rows(self, provider: Provider, costed: str) -> str:
        exprs = {
            **provider_columns(provider),
            **cost_columns("billed_cost", "effective_cost", "list_cost", "contracted_cost"),
            "InvoiceId": "invoice_prefix || d.invoice_suffix",
            "SubAccountId": "sub_account_id",
            "SubAccountName": "sub_account_name",
            "SubAccountType": "sub_account_type",
            "BillingPeriodStart": "d.billing_start",
            "BillingPeriodEnd": "d.billing_end",
            "ChargePeriodStart": "d.charge_start",
            "ChargePeriodEnd": "d.charge_end",
            "ChargeCategory": "'Usage'",
            "ChargeDescription": "charge_description",
            "ChargeFrequency": "'Usage-Based'",
            "ListUnitPrice": "list_price",
            "ContractedUnitPrice": "contracted_price",
            "PricingCategory": "CASE pricing WHEN 2 THEN 'Committed' WHEN 3 THEN 'Committed' "
            "WHEN 1 THEN 'Dynamic' ELSE 'Standard' END",
            "PricingQuantity": "quantity",
            "PricingUnit": "unit",
            "PricingCurrencyContractedUnitPrice": "contracted_price",
            "PricingCurrencyListUnitPrice": "list_price",
            "ConsumedQuantity": "quantity",
            "ConsumedUnit": "unit",
            "ServiceName": "service_name",
            "ServiceCategory": "service_category",
            "ServiceSubcategory": "service_subcategory",
            "SkuId": "sku_id",
            "SkuMeter": "sku_meter",
            "SkuPriceId": "sku_price_id",
            "SkuPriceDetails": "sku_details",
            "ResourceId": "resource_id",
            "ResourceName": "resource_name",
            "ResourceType": "resource_type",
            "RegionId": "region_id",
            "RegionName": "region_name",
            "AvailabilityZone": "az",
            "Tags": "tags",
        }
        if provider.key in self.commitments:  # covered rows (pricing 2) only where a plan is
            sp = self.commitments[provider.key][0]
            covered = commitment_columns(sp, "Used", "effective_cost")
            exprs.update({k: f"CASE WHEN pricing = 2 THEN {v} END" for k, v in covered.items()})
        reserved = [r for r in self.reservations if r.plan.provider == provider.key]
        if reserved:  # rows a reservation covers (pricing 3): used hours
            cases: dict[str, list[str]] = {}
            for r in reserved:
                for k, v in reservation_columns(r.plan, "Used", "quantity").items():
                    cases.setdefault(k, []).append(f"WHEN {r.index} THEN {v}")
            for k, whens in cases.items():
                sp_case = exprs.get(k, "NULL")
                exprs[k] = (
                    f"CASE WHEN pricing = 3 THEN CASE reserved {' '.join(whens)} END "
                    f"ELSE {sp_case} END"
                )
        return focus_select(exprs, f"FROM ({costed})")

    # -- the small rows: commitments, support, taxes, credits, corrections ----------------------

    def _at(self, provider: Provider, account: str, where: str) -> str:
        return f"""FROM sample_days AS d JOIN sample_accounts AS a
            ON a.provider = {literal(provider.key)} AND a.sub_account_name = {literal(account)}
            WHERE {where}"""

    def commitment_rows(self, provider: Provider, month: str) -> list[str]:
        """The savings plan's daily purchase row and the unused rest of the commitment."""
        if provider.key not in self.commitments:
            return []
        sp, daily, used = self.commitments[provider.key]
        unused = daily - used
        amount, rest = money(daily), money(unused)
        where = f"d.month = {literal(month)}"
        common = {
            **account_day_columns(provider),
            **service_columns(sp.service_name, sp.category, sp.subcategory),
            "ListUnitPrice": "1",
            "ContractedUnitPrice": "1",
            "PricingUnit": "'USD'",
            "PricingCurrencyContractedUnitPrice": "1",
            "PricingCurrencyListUnitPrice": "1",
            "SkuId": literal(sp.sku_id),
            "ResourceId": literal(sp.id),
            "ResourceName": literal(sp.name),
            "ResourceType": "'Savings Plan'",
        }
        purchase = {
            **common,
            **cost_columns(amount, "0", amount, amount),
            **commitment_columns(sp, None, amount),
            "ChargeCategory": "'Purchase'",
            "ChargeDescription": literal(f"{sp.name}: recurring fee"),
            "ChargeFrequency": "'Recurring'",
            "PricingCategory": "'Standard'",
            "PricingQuantity": amount,
            "SkuMeter": "'Savings Plan Recurring Fee'",
            "SkuPriceId": literal(f"{sp.sku_id}.RecurringFee"),
            "SkuPriceDetails": literal('{"x_PurchaseTerm":"1yr","x_PaymentOption":"No Upfront"}'),
        }
        rows = [focus_select(purchase, self._at(provider, sp.account, where))]
        if unused > 0:
            unused_row = {
                **common,
                **cost_columns("0", rest, rest, rest),
                **commitment_columns(sp, "Unused", rest),
                "ChargeCategory": "'Usage'",
                "ChargeDescription": literal(f"{sp.name}: unused commitment"),
                "ChargeFrequency": "'Usage-Based'",
                "PricingCategory": "'Committed'",
                "PricingQuantity": rest,
                "SkuMeter": "'Unused Commitment'",
                "SkuPriceId": literal(f"{sp.sku_id}.Unused"),
            }
            rows.append(focus_select(unused_row, self._at(provider, sp.account, where)))
        return rows

    def reservation_rows(self, provider: Provider, first: date) -> list[str]:
        """A reservation's rows in a month: its one-time purchase on the first day of the term
        (whose charge period is the term), the daily recurring fee and the unused hours."""
        rows: list[str] = []
        month = first.strftime("%Y-%m")
        for r in self.reservations:
            if r.plan.provider != provider.key:
                continue
            plan, units = r.plan, r.units
            common = {
                **account_day_columns(provider),
                **service_columns(*self._service_of(plan)),
                "PricingUnit": "'Hours'",
                "SkuId": literal(sku_id(plan.provider, plan.service, plan.sku)),
                "ResourceId": literal(plan.id),
                "ResourceName": literal(plan.name),
                "ResourceType": literal(plan.type),
            }
            in_month = f"d.month = {literal(month)}"
            if r.upfront and first <= r.start < add_months(first, 1):
                hours = units * r.term_hours
                amount = money(r.upfront)
                rows.append(
                    focus_select(
                        {
                            **common,
                            **cost_columns(amount, "0", amount, amount),
                            **reservation_columns(plan, None, str(hours)),
                            "ChargePeriodEnd": f"TIMESTAMPTZ '{r.end} 00:00:00+00'",
                            "ChargeCategory": "'Purchase'",
                            "ChargeDescription": literal(f"{plan.name}: upfront payment"),
                            "ChargeFrequency": "'One-Time'",
                            "ListUnitPrice": money(r.upfront_hourly),
                            "ContractedUnitPrice": money(r.upfront_hourly),
                            "PricingCategory": "'Standard'",
                            "PricingQuantity": str(hours),
                            "PricingCurrencyContractedUnitPrice": money(r.upfront_hourly),
                            "PricingCurrencyListUnitPrice": money(r.upfront_hourly),
                            "SkuMeter": "'Reservation Upfront Fee'",
                            "SkuPriceId": literal(f"{plan.id}.Upfront"),
                        },
                        self._at(
                            provider, plan.account, f"{in_month} AND d.day = DATE '{r.start}'"
                        ),
                    )
                )
            daily = money(r.recurring_hourly * units * 24)
            if r.recurring_hourly:
                rows.append(
                    focus_select(
                        {
                            **common,
                            **cost_columns(daily, "0", daily, daily),
                            **reservation_columns(plan, None, str(units * 24)),
                            "ChargeCategory": "'Purchase'",
                            "ChargeDescription": literal(f"{plan.name}: recurring fee"),
                            "ChargeFrequency": "'Recurring'",
                            "ListUnitPrice": money(r.recurring_hourly),
                            "ContractedUnitPrice": money(r.recurring_hourly),
                            "PricingCategory": "'Standard'",
                            "PricingQuantity": str(units * 24),
                            "PricingCurrencyContractedUnitPrice": money(r.recurring_hourly),
                            "PricingCurrencyListUnitPrice": money(r.recurring_hourly),
                            "SkuMeter": "'Reservation Recurring Fee'",
                            "SkuPriceId": literal(f"{plan.id}.Recurring"),
                        },
                        self._at(provider, plan.account, in_month),
                    )
                )
            if plan.spare:
                hours = plan.spare * 24
                waste = money(r.price * hours)
                rows.append(
                    focus_select(
                        {
                            **common,
                            **cost_columns("0", waste, waste, waste),
                            **reservation_columns(plan, "Unused", str(hours)),
                            "ChargeCategory": "'Usage'",
                            "ChargeDescription": literal(f"{plan.name}: unused hours"),
                            "ChargeFrequency": "'Usage-Based'",
                            "ListUnitPrice": money(r.price),
                            "ContractedUnitPrice": money(r.price),
                            "PricingCategory": "'Committed'",
                            "PricingQuantity": str(hours),
                            "PricingCurrencyContractedUnitPrice": money(r.price),
                            "PricingCurrencyListUnitPrice": money(r.price),
                            "SkuMeter": "'Unused Reservation'",
                            "SkuPriceId": literal(f"{plan.id}.Unused"),
                        },
                        self._at(provider, plan.account, in_month),
                    )
                )
        return rows

    def _service_of(self, plan: Reservation) -> tuple[str, str, str]:
        service = next(
            s for s in self.org.services if (s.provider, s.name) == (plan.provider, plan.service)
        )
        return service.name, service.category, service.subcategory

    def support(self, provider: Provider, first: date) -> str:
        """The support fee: a share of the month's usage, charged on day 1."""
        plan = provider.support
        fee = "f.fee"
        exprs = {
            **account_day_columns(provider),
            **cost_columns(fee, fee, fee, fee),
            **service_columns(plan.service_name, "Management and Governance", "Support"),
            "ChargeCategory": "'Usage'",
            "ChargeDescription": literal(plan.description),
            "ChargeFrequency": "'Recurring'",
            "ListUnitPrice": fee,
            "ContractedUnitPrice": fee,
            "PricingCategory": "'Standard'",
            "PricingQuantity": "1",
            "PricingUnit": "'Months'",
            "PricingCurrencyContractedUnitPrice": fee,
            "PricingCurrencyListUnitPrice": fee,
            "ConsumedQuantity": "1",
            "ConsumedUnit": "'Months'",
            "SkuId": literal(plan.sku_id),
            "SkuMeter": "'Support'",
            "SkuPriceId": literal(f"{plan.sku_id}.Monthly"),
        }
        share = plan.share_of_usage
        return focus_select(
            exprs,
            f"""FROM (SELECT CAST(round({share} * coalesce(sum(billed), 0), 2) AS DECIMAL(38,2)) AS fee
                      FROM sample_agg) AS f
            CROSS JOIN sample_days AS d JOIN sample_accounts AS a
              ON a.provider = {literal(provider.key)} AND a.sub_account_name = {literal(plan.account)}
            WHERE d.day = DATE '{first}' AND f.fee > 0""",
        )

    def taxes(self, provider: Provider) -> str:
        """A daily tax row per account: the provider's rate on that day's charges."""
        rate = provider.tax_rate
        billed, effective, listed, contracted = (
            f"round({rate} * t.{c}, 10)" for c in ("billed", "effective", "listed", "contracted")
        )
        exprs = {
            **account_day_columns(provider),
            **cost_columns(billed, effective, listed, contracted),
            **service_columns("Tax", "Other", "Other (Other)"),
            "ChargeCategory": "'Tax'",
            "ChargeDescription": literal(f"Sales tax ({(rate * 100).normalize()}%)"),
            "ChargeFrequency": "'Usage-Based'",
        }
        return focus_select(
            exprs,
            """FROM (
                SELECT account_idx, day_number, sum(billed) AS billed,
                       sum(effective) AS effective, sum(listed) AS listed,
                       sum(contracted) AS contracted
                FROM (
                    SELECT account_idx, day_number, billed, effective, listed, contracted
                    FROM sample_agg
                    UNION ALL
                    SELECT a.account_idx, d.day_number, e.BilledCost, e.EffectiveCost,
                           e.ListCost, e.ContractedCost
                    FROM sample_extra AS e
                    JOIN sample_accounts AS a ON a.sub_account_id = e.SubAccountId
                    JOIN sample_days AS d ON d.charge_start = e.ChargePeriodStart
                    WHERE e.ChargeClass IS NULL AND e.ChargeCategory IN ('Usage', 'Purchase'))
                GROUP BY ALL
            ) AS t
            JOIN sample_accounts AS a USING (account_idx)
            JOIN sample_days AS d USING (day_number)
            WHERE t.billed <> 0 OR t.effective <> 0""",
        )

    def credits(self, provider: Provider) -> list[str]:
        """Credit programmes: a share of one service's daily billed cost, given back."""
        queries = []
        for program in self.org.credits:
            if program.provider != provider.key:
                continue
            amount = f"-round({program.share} * g.billed, 10)"
            exprs = {
                **account_day_columns(provider),
                **cost_columns(amount, amount, amount, amount),
                "ChargeCategory": "'Credit'",
                "ChargeDescription": literal(program.description),
                "ChargeFrequency": "'Usage-Based'",
                "ServiceName": "s.service_name",
                "ServiceCategory": "s.service_category",
                "ServiceSubcategory": "s.service_subcategory",
            }
            accounts = ", ".join(literal(a) for a in program.accounts)
            queries.append(
                focus_select(
                    exprs,
                    f"""FROM sample_agg AS g
                    JOIN sample_accounts AS a USING (account_idx)
                    JOIN sample_services AS s USING (service_idx)
                    JOIN sample_days AS d USING (day_number)
                    WHERE a.provider = {literal(provider.key)}
                      AND s.service_name = {literal(program.service)}
                      AND a.sub_account_name IN ({accounts}) AND g.billed > 0""",
                )
            )
        return queries

    def corrections(self, provider: Provider, first: date) -> str:
        """A few refunds of data transfer billed in the previous period (ChargeClass Correction)."""
        network = next(
            s
            for s in self.org.services
            if s.provider == provider.key and s.subcategory == "Network Connectivity"
        )
        accounts = [i for i, a in enumerate(self.org.accounts) if a.provider == provider.key]
        pick = "[" + ", ".join(map(str, accounts)) + "]"
        month_number = first.year * 12 + first.month
        provider_number = [p.key for p in self.org.providers].index(provider.key)
        h = f"sample_hash(hash({self.seed}, {month_number}, {provider_number}, c.k), 41)"
        amount = f"-CAST(round((20 + 380 * sample_u({h}, 0)) * {self.scale!r}, 2) AS DECIMAL(38,2))"
        day = f"DATE '{first}' - CAST(1 + floor(sample_u({h}, 1) * 25) AS INTEGER)"
        previous = add_months(first, -1).strftime("%Y-%m")
        exprs = {
            **account_day_columns(provider),
            **cost_columns("c.amount", "c.amount", "c.amount", "c.amount"),
            **service_columns(network.name, network.category, network.subcategory),
            "ChargePeriodStart": "CAST(c.day AS TIMESTAMPTZ)",
            "ChargePeriodEnd": "CAST(c.day + 1 AS TIMESTAMPTZ)",
            "ChargeCategory": "'Usage'",
            "ChargeClass": "'Correction'",
            "ChargeDescription": literal(f"Correction: data transfer overcharge in {previous}"),
            "ChargeFrequency": "'Usage-Based'",
        }
        return focus_select(
            exprs,
            f"""FROM (
                SELECT k, {pick}[1 + CAST({h} % {len(accounts)} AS BIGINT)] AS account_idx,
                       {amount} AS amount, {day} AS day
                FROM range({self.org.habits.corrections_per_month}) AS c(k)
            ) AS c
            JOIN sample_accounts AS a USING (account_idx)
            JOIN sample_days AS d ON d.day = DATE '{first}'""",
        )
