-- missing-days: days with no charges in each account's billing period.
--
-- A day has charges when a row of daily or finer granularity starts on it (UTC): monthly rows
-- (storage, subscriptions, tax) span every day and would hide a gap in the daily feed. An
-- account is the sub account, or the billing account on rows without one. The expected days run
-- from the account's first to its last charge day in the period; once the period has closed
-- ($today on or after BillingPeriodEnd) they run over the whole billing period.
WITH charge_days AS (
    SELECT
        x_Provider AS provider,
        BillingAccountId AS billing_account,
        SubAccountId AS sub_account,
        x_BillingPeriod AS billing_period,
        CAST(ChargePeriodStart AS DATE) AS day,
        min(BillingPeriodStart) AS period_start,
        max(BillingPeriodEnd) AS period_end
    FROM checked_costs
    WHERE ChargePeriodEnd - ChargePeriodStart <= INTERVAL 1 DAY
    GROUP BY ALL
),
expected AS (
    SELECT
        provider, billing_account, sub_account, billing_period,
        max(period_end) <= CAST($today AS TIMESTAMPTZ) AS closed,
        CAST(min(period_start) AS DATE) AS period_first,
        CAST(max(period_end) AS DATE) - 1 AS period_last,
        CASE WHEN closed THEN period_first ELSE greatest(min(day), period_first) END AS first_day,
        CASE WHEN closed THEN period_last ELSE least(max(day), period_last) END AS last_day
    FROM charge_days
    GROUP BY ALL
),
calendar AS (
    SELECT
        provider, billing_account, sub_account, billing_period, closed,
        CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS day
    FROM expected
    WHERE first_day <= last_day
)
SELECT
    c.provider, c.billing_account, c.sub_account, c.billing_period, c.closed,
    list(c.day ORDER BY c.day) AS missing_days
FROM calendar AS c
ANTI JOIN charge_days AS d
    ON c.provider = d.provider
    AND c.billing_account = d.billing_account
    AND c.sub_account IS NOT DISTINCT FROM d.sub_account
    AND c.billing_period = d.billing_period
    AND c.day = d.day
GROUP BY ALL
ORDER BY ALL
