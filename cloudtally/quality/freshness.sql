-- freshness: how many days the latest charge of each provider's billing account lies before
-- the day it should reach: $today, or the end of the billing period when one period is checked
-- ($scoped) and it ended earlier.
--
-- The latest charge is the latest ChargePeriodEnd of rows of daily or finer granularity: a
-- monthly row ends with its month and would make a feed that stopped weeks ago look current.
-- Accounts with only coarser rows fall back to them.
SELECT
    x_Provider AS provider,
    BillingAccountId AS billing_account,
    coalesce(
        max(ChargePeriodEnd) FILTER (WHERE ChargePeriodEnd - ChargePeriodStart <= INTERVAL 1 DAY),
        max(ChargePeriodEnd)
    ) AS latest_end,
    CASE
        WHEN $scoped THEN least(CAST($today AS DATE), CAST(max(BillingPeriodEnd) AS DATE))
        ELSE CAST($today AS DATE)
    END AS reference_day,
    reference_day - CAST(latest_end AS DATE) AS days_behind
FROM checked_costs
GROUP BY ALL
ORDER BY ALL
