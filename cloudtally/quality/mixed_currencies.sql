-- mixed-currencies: billing accounts billed in more than one BillingCurrency in one period.
-- An invoice has one currency, so a second one usually means two exports were mixed up or a
-- converter read the pricing currency as the billing currency.
WITH by_currency AS (
    SELECT
        x_Provider AS provider,
        BillingAccountId AS billing_account,
        x_BillingPeriod AS billing_period,
        BillingCurrency AS currency,
        count(*) AS row_count,
        sum(BilledCost) AS billed_cost
    FROM checked_costs
    GROUP BY ALL
)
SELECT
    provider, billing_account, billing_period,
    count(currency) AS currencies,
    list(struct_pack(currency, row_count, billed_cost) ORDER BY row_count DESC, currency) AS breakdown
FROM by_currency
GROUP BY ALL
HAVING count(currency) > 1
ORDER BY ALL
