-- dates-out-of-range: rows with a date in a year no bill can have (before $earliest or after
-- $latest), grouped by the columns that hold such dates. One such row moves "the newest day
-- of data" years ahead and blinds every check and detector that looks back from it.
WITH dated AS (
    SELECT
        x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency, BilledCost,
        [
            {'name': 'BillingPeriodStart', 'value': BillingPeriodStart},
            {'name': 'BillingPeriodEnd', 'value': BillingPeriodEnd},
            {'name': 'ChargePeriodStart', 'value': ChargePeriodStart},
            {'name': 'ChargePeriodEnd', 'value': ChargePeriodEnd}
        ] AS dates
    FROM checked_costs
    -- Plain comparisons first (a few rows at most pass), the lists only for those.
    WHERE BillingPeriodStart < make_timestamptz($earliest, 1, 1, 0, 0, 0)
       OR BillingPeriodEnd < make_timestamptz($earliest, 1, 1, 0, 0, 0)
       OR ChargePeriodStart < make_timestamptz($earliest, 1, 1, 0, 0, 0)
       OR ChargePeriodEnd < make_timestamptz($earliest, 1, 1, 0, 0, 0)
       OR BillingPeriodStart >= make_timestamptz($latest + 1, 1, 1, 0, 0, 0)
       OR BillingPeriodEnd >= make_timestamptz($latest + 1, 1, 1, 0, 0, 0)
       OR ChargePeriodStart >= make_timestamptz($latest + 1, 1, 1, 0, 0, 0)
       OR ChargePeriodEnd >= make_timestamptz($latest + 1, 1, 1, 0, 0, 0)
),
flagged AS (
    SELECT *, list_filter(dates, lambda d: year(d.value) < $earliest OR year(d.value) > $latest)
                  AS wrong
    FROM dated
)
SELECT
    x_Provider AS provider,
    BillingAccountId AS billing_account,
    x_BillingPeriod AS billing_period,
    BillingCurrency AS currency,
    array_to_string(list_transform(wrong, lambda d: d.name), ', ') AS columns,
    wrong[1].name AS first_column,
    min(list_min(list_transform(wrong, lambda d: d.value))) AS lowest,
    max(list_max(list_transform(wrong, lambda d: d.value))) AS highest,
    count(*) AS row_count,
    coalesce(sum(BilledCost), 0) AS billed_cost
FROM flagged
WHERE len(wrong) > 0
GROUP BY ALL
ORDER BY ALL
