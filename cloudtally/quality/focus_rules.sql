-- FOCUS 1.2 rules the `focus-rules` check tests, one per entry.
--
-- Each entry is a header comment naming the rule by its id in the FinOps Foundation validator's
-- rule model (focus_validator/rules/model-1.2.0.1.json) and quoting its requirement word for
-- word, then a DuckDB expression over a `costs` row ending in `;`:
--
--   -- <RuleId>: <requirement>            the expression is TRUE on a row that breaks the rule
--                                         (NULL counts as no violation)
--   -- <RuleId> per <Column>: <req.>      the expression is a value that must be the same on
--                                         every row with the same <Column>
--
-- Comments below a header say how the requirement was turned into SQL. MUST rules fail the
-- check (error); SHOULD and RECOMMENDED rules warn. The macros come from focus_values.sql.
-- Not-null rules of Mandatory columns are tested by the `mandatory-nulls` check instead.

-- ChargeCategory-C-003-M: ChargeCategory MUST be one of the allowed values.
ChargeCategory NOT IN ('Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment');

-- ChargeClass-C-005-C: ChargeClass MUST be "Correction" when ChargeClass is not null.
ChargeClass <> 'Correction';

-- ChargeFrequency-C-003-M: ChargeFrequency MUST be one of the allowed values.
-- Values are case-sensitive: "Usage-based" is not "Usage-Based".
ChargeFrequency NOT IN ('One-Time', 'Recurring', 'Usage-Based');

-- ChargeFrequency-C-004-C: ChargeFrequency MUST NOT be "Usage-Based" when ChargeCategory is "Purchase".
ChargeCategory = 'Purchase' AND ChargeFrequency = 'Usage-Based';

-- ChargePeriodEnd-C-004-M: ChargePeriodEnd MUST be the exclusive end bound of the effective period of the charge.
-- An exclusive end bound lies after the start: a charge period that ends at or before it starts
-- breaks the rule.
ChargePeriodEnd <= ChargePeriodStart;

-- BillingPeriodEnd-C-004-M: BillingPeriodEnd MUST be the exclusive end bound of the billing period.
BillingPeriodEnd <= BillingPeriodStart;

-- ServiceCategory-C-003-M: ServiceCategory MUST be one of the allowed values.
ServiceCategory NOT IN ('AI and Machine Learning', 'Analytics', 'Business Applications', 'Compute',
    'Databases', 'Developer Tools', 'Multicloud', 'Identity', 'Integration', 'Internet of Things',
    'Management and Governance', 'Media', 'Migration', 'Mobile', 'Networking', 'Security',
    'Storage', 'Web', 'Other');

-- ServiceSubcategory-C-003-M: ServiceSubcategory MUST be one of the allowed values.
ServiceSubcategory IS NOT NULL AND focus_service_category_of(ServiceSubcategory) IS NULL;

-- ServiceSubcategory-C-004-M: ServiceSubcategory MUST have one and only one parent ServiceCategory as specified in the allowed values below.
focus_service_category_of(ServiceSubcategory) <> ServiceCategory;

-- ServiceName-C-005-C per ServiceName: ServiceName MUST have one and only one ServiceCategory that best aligns with its primary purpose, except when no suitable ServiceCategory is available.
ServiceCategory;

-- ServiceName-C-008-C per ServiceName: ServiceName SHOULD have one and only one ServiceSubcategory that best aligns with its primary purpose, except when no suitable ServiceSubcategory is available.
ServiceSubcategory;

-- PricingCategory-C-003-C: PricingCategory MUST be null when ChargeCategory is "Tax".
ChargeCategory = 'Tax' AND PricingCategory IS NOT NULL;

-- PricingCategory-C-004-C: PricingCategory MUST NOT be null when ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS DISTINCT FROM 'Correction'
    AND PricingCategory IS NULL;

-- PricingCategory-C-007-M: PricingCategory MUST be one of the allowed values.
PricingCategory NOT IN ('Standard', 'Committed', 'Dynamic', 'Other');

-- PricingQuantity-C-004-C: PricingQuantity MUST be null when ChargeCategory is "Tax".
ChargeCategory = 'Tax' AND PricingQuantity IS NOT NULL;

-- PricingQuantity-C-005-C: PricingQuantity MUST NOT be null when ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS DISTINCT FROM 'Correction'
    AND PricingQuantity IS NULL;

-- PricingUnit-C-003-O: PricingUnit SHOULD conform to UnitFormat requirements.
NOT focus_is_unit(PricingUnit);

-- PricingUnit-C-005-C: PricingUnit MUST be null when PricingQuantity is null.
PricingQuantity IS NULL AND PricingUnit IS NOT NULL;

-- PricingUnit-C-006-C: PricingUnit MUST NOT be null when PricingQuantity is not null.
PricingQuantity IS NOT NULL AND PricingUnit IS NULL;

-- ListUnitPrice-C-004-C: ListUnitPrice MUST be null when ChargeCategory is "Tax".
ChargeCategory = 'Tax' AND ListUnitPrice IS NOT NULL;

-- ListUnitPrice-C-005-C: ListUnitPrice MUST NOT be null when ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS DISTINCT FROM 'Correction'
    AND ListUnitPrice IS NULL;

-- ListUnitPrice-C-008-M: ListUnitPrice MUST be a non-negative decimal value.
ListUnitPrice < 0;

-- ListCost-C-009-C: The product of ListUnitPrice and PricingQuantity MUST match the ListCost when ListUnitPrice is not null, PricingQuantity is not null, and ChargeClass is not "Correction".
-- The product is taken in DOUBLE (two DECIMAL(38,18) overflow when multiplied) and may differ
-- from ListCost by one part in a million, which absorbs a provider's rounding of the cost.
ChargeClass IS DISTINCT FROM 'Correction'
    AND abs(CAST(ListUnitPrice AS DOUBLE) * CAST(PricingQuantity AS DOUBLE) - CAST(ListCost AS DOUBLE))
        > 1e-6 * greatest(abs(CAST(ListCost AS DOUBLE)), 1);

-- ContractedUnitPrice-C-005-C: ContractedUnitPrice MUST be null when ChargeCategory is "Tax".
ChargeCategory = 'Tax' AND ContractedUnitPrice IS NOT NULL;

-- ContractedUnitPrice-C-006-C: ContractedUnitPrice MUST NOT be null when ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS DISTINCT FROM 'Correction'
    AND ContractedUnitPrice IS NULL;

-- ContractedUnitPrice-C-009-C: ContractedUnitPrice MUST be a non-negative decimal value.
ContractedUnitPrice < 0;

-- ContractedUnitPrice-C-011-C: The product of ContractedUnitPrice and PricingQuantity MUST match the ContractedCost when PricingQuantity is not null and ChargeClass is not "Correction".
-- Compared as ListCost-C-009-C is.
ChargeClass IS DISTINCT FROM 'Correction'
    AND abs(CAST(ContractedUnitPrice AS DOUBLE) * CAST(PricingQuantity AS DOUBLE) - CAST(ContractedCost AS DOUBLE))
        > 1e-6 * greatest(abs(CAST(ContractedCost AS DOUBLE)), 1);

-- EffectiveCost-C-005-C: EffectiveCost MUST be 0 when ChargeCategory is "Purchase" and the purchase is intended to cover future eligible charges.
-- A purchase that covers future charges is the purchase of a commitment discount, so it carries
-- a CommitmentDiscountId. (The validator's own SQL tests every purchase and so flags ordinary
-- subscription fees.)
ChargeCategory = 'Purchase' AND CommitmentDiscountId IS NOT NULL AND EffectiveCost <> 0;

-- BillingCurrency-C-003-M: BillingCurrency MUST conform to CurrencyFormat requirements.
-- CurrencyFormat: a national currency as its three-letter ISO 4217 code.
NOT regexp_full_match(BillingCurrency, '[A-Z]{3}');

-- ConsumedQuantity-C-004-C: ConsumedQuantity MUST be null when ChargeCategory is not "Usage", or when ChargeCategory is "Usage" and CommitmentDiscountStatus is "Unused".
ConsumedQuantity IS NOT NULL
    AND (ChargeCategory <> 'Usage' OR CommitmentDiscountStatus = 'Unused');

-- ConsumedQuantity-C-006-C: ConsumedQuantity MUST NOT be null when ChargeClass is not "Correction".
-- In the specification this requirement sits under "when ChargeCategory is Usage and
-- CommitmentDiscountStatus is not Unused"; elsewhere ConsumedQuantity-C-004-C wants it null.
ChargeCategory = 'Usage' AND CommitmentDiscountStatus IS DISTINCT FROM 'Unused'
    AND ChargeClass IS DISTINCT FROM 'Correction' AND ConsumedQuantity IS NULL;

-- ConsumedUnit-C-003-O: ConsumedUnit SHOULD conform to UnitFormat requirements.
NOT focus_is_unit(ConsumedUnit);

-- ConsumedUnit-C-005-C: ConsumedUnit MUST be null when ConsumedQuantity is null.
ConsumedQuantity IS NULL AND ConsumedUnit IS NOT NULL;

-- ConsumedUnit-C-006-C: ConsumedUnit MUST NOT be null when ConsumedQuantity is not null.
ConsumedQuantity IS NOT NULL AND ConsumedUnit IS NULL;

-- SkuId-C-004-C: SkuId MUST be null when ChargeCategory is "Tax".
ChargeCategory = 'Tax' AND SkuId IS NOT NULL;

-- SkuId-C-005-C: SkuId MUST NOT be null when ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS DISTINCT FROM 'Correction'
    AND SkuId IS NULL;

-- SkuMeter-C-004-C: SkuMeter MUST be null when SkuId is null.
SkuId IS NULL AND SkuMeter IS NOT NULL;

-- SkuPriceId-C-004-C: SkuPriceId MUST be null when ChargeCategory is "Tax".
ChargeCategory = 'Tax' AND SkuPriceId IS NOT NULL;

-- SkuPriceId-C-005-C: SkuPriceId MUST NOT be null when ChargeCategory is "Usage" or "Purchase" and ChargeClass is not "Correction".
ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS DISTINCT FROM 'Correction'
    AND SkuPriceId IS NULL;

-- SkuPriceId-C-008-M per SkuPriceId: SkuPriceId MUST have one and only one parent SkuId.
SkuId;

-- SkuPriceDetails-C-004-C: SkuPriceDetails MUST be null when SkuPriceId is null.
SkuPriceId IS NULL AND SkuPriceDetails IS NOT NULL;

-- CommitmentDiscountCategory-C-003-C: CommitmentDiscountCategory MUST be null when CommitmentDiscountId is null.
CommitmentDiscountId IS NULL AND CommitmentDiscountCategory IS NOT NULL;

-- CommitmentDiscountCategory-C-004-C: CommitmentDiscountCategory MUST NOT be null when CommitmentDiscountId is not null.
CommitmentDiscountId IS NOT NULL AND CommitmentDiscountCategory IS NULL;

-- CommitmentDiscountCategory-C-005-M: CommitmentDiscountCategory MUST be one of the allowed values.
CommitmentDiscountCategory NOT IN ('Spend', 'Usage');

-- CommitmentDiscountName-C-004-C: CommitmentDiscountName MUST be null when CommitmentDiscountId is null.
CommitmentDiscountId IS NULL AND CommitmentDiscountName IS NOT NULL;

-- CommitmentDiscountType-C-004-C: CommitmentDiscountType MUST be null when CommitmentDiscountId is null.
CommitmentDiscountId IS NULL AND CommitmentDiscountType IS NOT NULL;

-- CommitmentDiscountType-C-005-C: CommitmentDiscountType MUST NOT be null when CommitmentDiscountId is not null.
CommitmentDiscountId IS NOT NULL AND CommitmentDiscountType IS NULL;

-- CommitmentDiscountStatus-C-003-C: CommitmentDiscountStatus MUST be null when CommitmentDiscountId is null.
CommitmentDiscountId IS NULL AND CommitmentDiscountStatus IS NOT NULL;

-- CommitmentDiscountStatus-C-004-C: CommitmentDiscountStatus MUST NOT be null when CommitmentDiscountId is not null and Charge Category is "Usage".
-- (The model's own condition is inverted, CommitmentDiscountId IS NULL; this follows the text.)
CommitmentDiscountId IS NOT NULL AND ChargeCategory = 'Usage' AND CommitmentDiscountStatus IS NULL;

-- CommitmentDiscountStatus-C-005-M: CommitmentDiscountStatus MUST be one of the allowed values.
-- The allowed values in FOCUS 1.2 are "Used" and "Unused"; the model 1.2.0.1 lists "Active",
-- "Expired" and "Pending", which would fail every correct row.
CommitmentDiscountStatus NOT IN ('Used', 'Unused');

-- CommitmentDiscountUnit-C-003-M: CommitmentDiscountUnit SHOULD conform to UnitFormat requirements.
NOT focus_is_unit(CommitmentDiscountUnit);

-- CommitmentDiscountUnit-C-005-C: CommitmentDiscountUnit MUST be null when CommitmentDiscountQuantity is null.
CommitmentDiscountQuantity IS NULL AND CommitmentDiscountUnit IS NOT NULL;

-- CommitmentDiscountUnit-C-006-C: CommitmentDiscountUnit MUST NOT be null when CommitmentDiscountQuantity is not null.
CommitmentDiscountQuantity IS NOT NULL AND CommitmentDiscountUnit IS NULL;

-- CapacityReservationStatus-C-003-C: CapacityReservationStatus MUST be null when CapacityReservationId is null.
CapacityReservationId IS NULL AND CapacityReservationStatus IS NOT NULL;

-- CapacityReservationStatus-C-004-C: CapacityReservationStatus MUST NOT be null when CapacityReservationId is not null and ChargeCategory is "Usage".
CapacityReservationId IS NOT NULL AND ChargeCategory = 'Usage' AND CapacityReservationStatus IS NULL;

-- CapacityReservationStatus-C-006-M: CapacityReservationStatus MUST be one of the allowed values.
CapacityReservationStatus NOT IN ('Used', 'Unused');

-- ResourceType-C-004-C: ResourceType MUST be null when ResourceId is null.
ResourceId IS NULL AND ResourceType IS NOT NULL;

-- ResourceType-C-005-C: ResourceType MUST NOT be null when ResourceId is not null.
ResourceId IS NOT NULL AND ResourceType IS NULL;

-- RegionName-C-004-C: RegionName MUST be null when RegionId is null.
RegionId IS NULL AND RegionName IS NOT NULL;

-- RegionName-C-005-C: RegionName MUST NOT be null when RegionId is not null.
RegionId IS NOT NULL AND RegionName IS NULL;

-- SubAccountName-C-004-C: SubAccountName MUST be null when SubAccountId is null.
SubAccountId IS NULL AND SubAccountName IS NOT NULL;

-- SubAccountName-C-005-C: SubAccountName MUST NOT be null when SubAccountId is not null.
SubAccountId IS NOT NULL AND SubAccountName IS NULL;

-- SubAccountType-C-004-C: SubAccountType MUST be null when SubAccountId is null.
SubAccountId IS NULL AND SubAccountType IS NOT NULL;

-- SubAccountType-C-005-C: SubAccountType MUST NOT be null when SubAccountId is not null.
SubAccountId IS NOT NULL AND SubAccountType IS NULL;

-- BillingAccountType-C-005-C: BillingAccountType MUST NOT be null when BillingAccountId is not null.
BillingAccountId IS NOT NULL AND BillingAccountType IS NULL;
