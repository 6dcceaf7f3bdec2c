-- duplicate-line-items: rows equal on every FOCUS column, and the cost their extra copies add.
--
-- The x_ columns record where a row came from (file, ingest run) and are left out: the same line
-- delivered in two files is still one charge. Rows are compared by a 64-bit hash of their FOCUS
-- columns rather than grouped on all ~60 of them, which would hold every row's text in the
-- aggregate; two different rows share a hash with odds of about n^2 / 2^65 (3e-6 for ten
-- million rows).
--
-- The hashes are first stored on their own (8 bytes a row) and grouped there: grouping them
-- while the wide scan runs holds both in memory at once and fails on large lakes under the
-- store's memory limit. A second, streaming scan then picks up the rows of repeated hashes.

CREATE OR REPLACE TEMP TABLE duplicate_row_hashes AS
SELECT hash({focus_columns}) AS row_hash
FROM checked_costs;

WITH repeated_hashes AS (
    SELECT row_hash
    FROM duplicate_row_hashes
    GROUP BY row_hash
    HAVING count(*) > 1
),
-- Equal rows share ProviderName, BillingAccountId, BillingPeriodStart and BillingCurrency, so
-- any one of them names the group's partition and cost.
repeated AS (
    SELECT
        row_hash,
        count(*) - 1 AS extra_copies,
        any_value(x_Provider) AS provider,
        any_value(BillingAccountId) AS billing_account,
        any_value(x_BillingPeriod) AS billing_period,
        any_value(BillingCurrency) AS currency,
        any_value(BilledCost) AS billed_cost,
        any_value(EffectiveCost) AS effective_cost
    FROM (
        SELECT
            hash({focus_columns}) AS row_hash,
            x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency, BilledCost, EffectiveCost
        FROM checked_costs
    )
    WHERE row_hash IN (SELECT row_hash FROM repeated_hashes)
    GROUP BY row_hash
)
SELECT
    provider, billing_account, billing_period, currency,
    sum(extra_copies) AS extra_rows,
    count(*) AS repeated_rows,
    sum(extra_copies * billed_cost) AS billed_cost,
    sum(extra_copies * effective_cost) AS effective_cost
FROM repeated
GROUP BY ALL
ORDER BY ALL;

DROP TABLE duplicate_row_hashes;
