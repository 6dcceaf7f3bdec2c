-- negative-costs: rows with a negative BilledCost or EffectiveCost, by ChargeCategory. Credits
-- and adjustments are negative by nature; usage and purchases almost never are.
SELECT
    x_Provider AS provider,
    BillingAccountId AS billing_account,
    x_BillingPeriod AS billing_period,
    BillingCurrency AS currency,
    ChargeCategory AS charge_category,
    count(*) AS row_count,
    coalesce(sum(BilledCost) FILTER (WHERE BilledCost < 0), 0) AS negative_billed_cost,
    coalesce(sum(EffectiveCost) FILTER (WHERE EffectiveCost < 0), 0) AS negative_effective_cost
FROM checked_costs
WHERE BilledCost < 0 OR EffectiveCost < 0
GROUP BY ALL
ORDER BY ALL
