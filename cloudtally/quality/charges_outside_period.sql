-- charges-outside-period: rows whose charge period starts before or ends after the billing
-- period that invoices them. FOCUS lets a correction (ChargeClass 'Correction') fix an earlier
-- period, so corrections are left out, and a commitment purchase's charge period is the term
-- it buys (an all-upfront reservation is charged once for a year), so purchases are too; any
-- other such row is either late usage or a row filed under the wrong period.
SELECT
    x_Provider AS provider,
    BillingAccountId AS billing_account,
    x_BillingPeriod AS billing_period,
    BillingCurrency AS currency,
    min(BillingPeriodStart) AS period_start,
    max(BillingPeriodEnd) AS period_end,
    min(ChargePeriodStart) AS first_start,
    max(ChargePeriodEnd) AS last_end,
    count(*) AS row_count,
    coalesce(sum(BilledCost), 0) AS billed_cost
FROM checked_costs
WHERE (ChargePeriodStart < BillingPeriodStart OR ChargePeriodEnd > BillingPeriodEnd)
  AND ChargeClass IS DISTINCT FROM 'Correction'
  AND ChargeCategory IS DISTINCT FROM 'Purchase'
GROUP BY ALL
ORDER BY ALL
