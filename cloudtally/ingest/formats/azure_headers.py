"""Azure's vocabulary: the many spellings of one export column, and the tables that turn
Azure's values (meter categories, region names, units) into FOCUS values.

Microsoft has shipped several schemas for the same data: the legacy pay-as-you-go usage export
(`SubscriptionGuid`, `UsageDateTime`, `PreTaxCost`), the EA cost details in an older
(`Cost`, `BillingCurrency`) and a newer spelling (`CostInBillingCurrency`,
`BillingCurrencyCode`), the MCA export in camelCase (`costInBillingCurrency`), and localized
headers: a German portal writes `Abonnement-GUID (SubscriptionGuid)` or just `Ressourcengruppe`.
`resolve_header` maps any of them to one set of English names (the keys of `ALIASES`), so the
converter's mapping is written once.

Sources: Microsoft Learn, "Understand cost details fields" (the EA and MCA field references)
and the German cost details download; the header sets in tests/fixtures/native/azure/headers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# English column name -> the spellings that mean it, in order of preference (the first one a
# header has wins; a later one stays an extension column). Matching ignores case, spaces,
# hyphens and underscores, so `costInBillingCurrency` and `CostInBillingCurrency` are one
# spelling. German names are Microsoft's own labels in the German portal's download.
ALIASES: dict[str, tuple[str, ...]] = {
    "BillingAccountId": ("BillingAccountId", "EnrollmentNumber", "Registrierungsnummer"),
    "BillingAccountName": ("BillingAccountName", "Abrechnungskontoname"),
    "BillingProfileId": ("BillingProfileId", "Abrechnungsprofil-ID"),
    "BillingProfileName": ("BillingProfileName", "Abrechnungsprofilname"),
    "BillingPeriodStartDate": ("BillingPeriodStartDate", "BillingPeriodStart"),
    "BillingPeriodEndDate": ("BillingPeriodEndDate", "BillingPeriodEnd"),
    "InvoiceId": ("InvoiceId", "Rechnungs-ID"),
    "InvoiceSectionId": ("InvoiceSectionId",),
    "InvoiceSectionName": ("InvoiceSectionName", "InvoiceSection", "Rechnungsabschnitt"),
    "PartnerName": ("PartnerName",),
    "CustomerTenantId": ("CustomerTenantId",),
    "CustomerName": ("CustomerName",),
    "AccountName": ("AccountName", "Kontoname"),
    "AccountOwnerId": ("AccountOwnerId", "Kontobesitzer-ID"),
    "SubscriptionId": ("SubscriptionId", "SubscriptionGuid", "Abonnement-GUID", "Abonnement-ID"),
    "SubscriptionName": ("SubscriptionName", "Abonnementname"),
    "Date": ("Date", "UsageDateTime", "UsageDate", "Datum", "Verbrauchsdatum"),
    "ChargeType": ("ChargeType", "Gebührentyp"),
    "PricingModel": ("PricingModel", "Preismodell"),
    "Frequency": ("Frequency", "Häufigkeit"),
    "Cost": ("CostInBillingCurrency", "Cost", "PreTaxCost", "Kosten"),
    "BillingCurrency": ("BillingCurrency", "BillingCurrencyCode", "Currency", "Währung"),
    "PricingCurrency": ("PricingCurrency", "PricingCurrencyCode"),
    "CostInPricingCurrency": ("CostInPricingCurrency",),
    "CostInUsd": ("CostInUsd",),
    "ExchangeRatePricingToBilling": ("ExchangeRatePricingToBilling",),
    "PaygCostInBillingCurrency": ("PaygCostInBillingCurrency",),
    "Quantity": ("Quantity", "UsageQuantity", "Menge", "Verbrauchte Menge"),
    "UnitOfMeasure": ("UnitOfMeasure", "Maßeinheit"),
    "UnitPrice": ("UnitPrice", "ResourceRate", "Ressourcensatz", "Einheitspreis"),
    "EffectivePrice": ("EffectivePrice", "Effektiver Preis"),
    "PayGPrice": ("PayGPrice",),
    "ProductName": ("ProductName", "Product", "Produkt"),
    "ProductId": ("ProductId",),
    "PartNumber": ("PartNumber", "Teilenummer"),
    "MeterId": ("MeterId", "ID der Verbrauchseinheit"),
    "MeterName": ("MeterName", "Name der Verbrauchseinheit"),
    "MeterCategory": ("MeterCategory", "Kategorie der Verbrauchseinheit"),
    "MeterSubCategory": ("MeterSubCategory", "Unterkategorie der Verbrauchseinheit"),
    "MeterRegion": ("MeterRegion", "Region der Verbrauchseinheit"),
    "ServiceFamily": ("ServiceFamily",),
    "ServiceName": ("ServiceName",),
    "ServiceTier": ("ServiceTier",),
    "ConsumedService": ("ConsumedService", "Genutzter Dienst"),
    "ResourceId": ("ResourceId", "InstanceId", "InstanceName", "Instanz-ID"),
    "ResourceName": ("ResourceName",),
    "ResourceType": ("ResourceType",),
    "ResourceGroup": ("ResourceGroup", "ResourceGroupName", "Ressourcengruppe"),
    "ResourceLocation": ("ResourceLocation", "Ressourcenstandort"),
    "Location": ("Location",),
    "AvailabilityZone": ("AvailabilityZone",),
    "Tags": ("Tags",),
    "AdditionalInfo": ("AdditionalInfo", "Zusätzliche Informationen"),
    "ServiceInfo1": ("ServiceInfo1", "Dienstinformation 1"),
    "ServiceInfo2": ("ServiceInfo2", "Dienstinformation 2"),
    "OfferId": ("OfferId", "Angebots-ID"),
    "PublisherType": ("PublisherType",),
    "PublisherName": ("PublisherName",),
    "PlanName": ("PlanName",),
    "BenefitId": ("BenefitId",),
    "BenefitName": ("BenefitName",),
    "ReservationId": ("ReservationId",),
    "ReservationName": ("ReservationName",),
    "ProductOrderId": ("ProductOrderId",),
    "ProductOrderName": ("ProductOrderName",),
    "Term": ("Term",),
    "CostCenter": ("CostCenter", "Kostenstelle"),
}

# Exact decimals, parsed by the CSV reader (a bad value is reported with its line and column).
NUMBER_FIELDS = (
    "Cost",
    "CostInPricingCurrency",
    "CostInUsd",
    "ExchangeRatePricingToBilling",
    "PaygCostInBillingCurrency",
    "Quantity",
    "UnitPrice",
    "EffectivePrice",
    "PayGPrice",
)
# Dates, written MM/DD/YYYY by some exports and YYYY-MM-DD by others.
DATE_FIELDS = ("Date", "BillingPeriodStartDate", "BillingPeriodEndDate")
# Without these a row cannot be dated, costed, filed under an account or reconciled.
REQUIRED = ("Date", "Cost", "BillingCurrency", "SubscriptionId")
# Columns only Azure cost exports have; two of them make a header an Azure one.
SIGNATURE = (
    "MeterCategory",
    "MeterId",
    "MeterName",
    "ConsumedService",
    "SubscriptionId",
    "ResourceGroup",
)

_PARENTHESIZED = re.compile(r"^(?P<local>.*?)\s*\((?P<english>[A-Za-z0-9]+)\)\s*$")


def spelling_key(name: str) -> str:
    """How a header name is compared: the English name a localized header gives in brackets,
    without case, accents' encoding, spaces, hyphens or underscores.

    >>> spelling_key("Abonnement-GUID (SubscriptionGuid)"), spelling_key("costInBillingCurrency")
    ('subscriptionguid', 'costinbillingcurrency')
    >>> spelling_key("\\ufeffMaßeinheit"), spelling_key("Meter Sub-Category")
    ('maßeinheit', 'metersubcategory')
    """
    name = unicodedata.normalize("NFC", name.replace("\ufeff", "").strip())
    bracketed = _PARENTHESIZED.match(name)
    if bracketed:
        name = bracketed["english"]
    return re.sub(r"[\s_\-./]+", "", name).lower()


_FIELD_OF_SPELLING = {
    spelling_key(spelling): (field, rank)
    for field, spellings in ALIASES.items()
    for rank, spelling in enumerate(spellings)
}


@dataclass(frozen=True)
class Header:
    """A file's header resolved: which column holds each field, and the columns left over."""

    fields: dict[str, str]  # English field name -> the file's column
    others: list[str]  # the file's columns no field claimed, in header order

    def column(self, field: str) -> str | None:
        return self.fields.get(field)


def resolve_header(columns: list[str]) -> Header:
    """Claim each field's column: the most preferred spelling the header has.

    >>> h = resolve_header(["Abonnement-GUID (SubscriptionGuid)", "Kosten", "PreTaxCost", "x"])
    >>> h.fields, h.others
    ({'SubscriptionId': 'Abonnement-GUID (SubscriptionGuid)', 'Cost': 'PreTaxCost'}, ['Kosten', 'x'])
    """
    best: dict[str, tuple[int, str]] = {}
    for column in columns:
        found = _FIELD_OF_SPELLING.get(spelling_key(column))
        if found is None:
            continue
        field, rank = found
        if field not in best or rank < best[field][0]:
            best[field] = (rank, column)
    fields = {field: column for field, (_, column) in best.items()}
    claimed = set(fields.values())
    return Header(fields=fields, others=[c for c in columns if c not in claimed])


def spellings(field: str) -> str:
    """The accepted spellings of a field, for messages and the docs.

    >>> spellings("Cost")
    'CostInBillingCurrency, Cost, PreTaxCost or Kosten'
    """
    names = ALIASES[field]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# -- Azure values -> FOCUS values ------------------------------------------------------------

# MeterCategory (or, without one, ServiceName or ConsumedService), lower case -> FOCUS 1.2
# (ServiceCategory, ServiceSubcategory). The keys are Azure's meter categories and resource
# provider namespaces; any other is `Other` / `Other (Other)`, which the spec allows.
SERVICE_CATEGORIES: dict[str, tuple[str, str]] = {
    # AI and Machine Learning
    "azure ai services": ("AI and Machine Learning", "Machine Learning"),
    "azure bot service": ("AI and Machine Learning", "Bots"),
    "azure machine learning": ("AI and Machine Learning", "AI Platforms"),
    "azure openai": ("AI and Machine Learning", "Generative AI"),
    "azure openai service": ("AI and Machine Learning", "Generative AI"),
    "cognitive services": ("AI and Machine Learning", "Machine Learning"),
    "machine learning studio": ("AI and Machine Learning", "AI Platforms"),
    # Analytics
    "azure analysis services": ("Analytics", "Business Intelligence"),
    "azure cognitive search": ("Analytics", "Search"),
    "azure data explorer": ("Analytics", "Analytics Platforms"),
    "azure data factory": ("Analytics", "Data Processing"),
    "azure data factory v2": ("Analytics", "Data Processing"),
    "azure databricks": ("Analytics", "Analytics Platforms"),
    "azure synapse analytics": ("Analytics", "Analytics Platforms"),
    "data lake analytics": ("Analytics", "Data Processing"),
    "hdinsight": ("Analytics", "Data Processing"),
    "microsoft fabric": ("Analytics", "Analytics Platforms"),
    "power bi embedded": ("Analytics", "Business Intelligence"),
    "stream analytics": ("Analytics", "Streaming Analytics"),
    # Compute
    "azure container apps": ("Compute", "Containers"),
    "azure kubernetes service": ("Compute", "Containers"),
    "azure virtual desktop": ("Compute", "End User Computing"),
    "azure vmware solution": ("Compute", "Virtual Machines"),
    "batch": ("Compute", "Other (Compute)"),
    "cloud services": ("Compute", "Virtual Machines"),
    "container instances": ("Compute", "Containers"),
    "container service": ("Compute", "Containers"),
    "functions": ("Compute", "Serverless Compute"),
    "microsoft.compute": ("Compute", "Virtual Machines"),
    "service fabric": ("Compute", "Containers"),
    "virtual machine scale sets": ("Compute", "Virtual Machines"),
    "virtual machines": ("Compute", "Virtual Machines"),
    "virtual machines licenses": ("Compute", "Virtual Machines"),
    # Databases
    "azure cache for redis": ("Databases", "Caching"),
    "azure cosmos db": ("Databases", "NoSQL Databases"),
    "azure database for mariadb": ("Databases", "Relational Databases"),
    "azure database for mysql": ("Databases", "Relational Databases"),
    "azure database for postgresql": ("Databases", "Relational Databases"),
    "microsoft.dbformysql": ("Databases", "Relational Databases"),
    "microsoft.dbforpostgresql": ("Databases", "Relational Databases"),
    "microsoft.documentdb": ("Databases", "NoSQL Databases"),
    "microsoft.sql": ("Databases", "Relational Databases"),
    "redis cache": ("Databases", "Caching"),
    "sql database": ("Databases", "Relational Databases"),
    "sql managed instance": ("Databases", "Relational Databases"),
    "sql server": ("Databases", "Relational Databases"),
    # Developer Tools
    "azure devops": ("Developer Tools", "Continuous Integration and Deployment"),
    "azure devtest labs": ("Developer Tools", "Development Environments"),
    "azure load testing": ("Developer Tools", "Quality Assurance"),
    "github": ("Developer Tools", "Source Code Management"),
    "visual studio subscription": ("Developer Tools", "Development Environments"),
    # Identity
    "azure active directory": ("Identity", "Identity and Access Management"),
    "azure active directory b2c": ("Identity", "Identity and Access Management"),
    "azure active directory domain services": ("Identity", "Identity and Access Management"),
    "microsoft entra domain services": ("Identity", "Identity and Access Management"),
    "microsoft entra id": ("Identity", "Identity and Access Management"),
    # Integration
    "api management": ("Integration", "API Management"),
    "azure relay": ("Integration", "Messaging"),
    "event grid": ("Integration", "Messaging"),
    "event hubs": ("Integration", "Messaging"),
    "logic apps": ("Integration", "Workflow Orchestration"),
    "microsoft.eventhub": ("Integration", "Messaging"),
    "microsoft.servicebus": ("Integration", "Messaging"),
    "service bus": ("Integration", "Messaging"),
    # Internet of Things
    "azure digital twins": ("Internet of Things", "IoT Platforms"),
    "iot central": ("Internet of Things", "IoT Platforms"),
    "iot hub": ("Internet of Things", "IoT Platforms"),
    "time series insights": ("Internet of Things", "IoT Analytics"),
    # Management and Governance
    "automation": ("Management and Governance", "Other (Management and Governance)"),
    "azure arc": ("Management and Governance", "Other (Management and Governance)"),
    "azure monitor": ("Management and Governance", "Observability"),
    "azure site recovery": ("Management and Governance", "Disaster Recovery"),
    "insight and analytics": ("Management and Governance", "Observability"),
    "log analytics": ("Management and Governance", "Observability"),
    "microsoft.insights": ("Management and Governance", "Observability"),
    "microsoft.operationalinsights": ("Management and Governance", "Observability"),
    # Media, Migration, Mobile
    "azure communication services": ("Media", "Other (Media)"),
    "media services": ("Media", "Media Streaming"),
    "azure database migration service": ("Migration", "Data Migration"),
    "azure migrate": ("Migration", "Resource Migration"),
    "data box": ("Migration", "Data Migration"),
    "notification hubs": ("Mobile", "Other (Mobile)"),
    # Networking
    "application gateway": ("Networking", "Application Networking"),
    "azure bastion": ("Networking", "Network Security"),
    "azure ddos protection": ("Networking", "Network Security"),
    "azure dns": ("Networking", "Network Routing"),
    "azure firewall": ("Networking", "Network Security"),
    "azure front door": ("Networking", "Content Delivery"),
    "azure front door service": ("Networking", "Content Delivery"),
    "azure private link": ("Networking", "Network Connectivity"),
    "bandwidth": ("Networking", "Network Connectivity"),
    "content delivery network": ("Networking", "Content Delivery"),
    "expressroute": ("Networking", "Network Connectivity"),
    "ip addresses": ("Networking", "Network Infrastructure"),
    "load balancer": ("Networking", "Application Networking"),
    "microsoft.cdn": ("Networking", "Content Delivery"),
    "microsoft.network": ("Networking", "Network Infrastructure"),
    "nat gateway": ("Networking", "Network Infrastructure"),
    "network watcher": ("Networking", "Other (Networking)"),
    "traffic manager": ("Networking", "Network Routing"),
    "virtual network": ("Networking", "Network Infrastructure"),
    "vpn gateway": ("Networking", "Network Connectivity"),
    # Security
    "advanced data security": ("Security", "Threat Detection and Response"),
    "advanced threat protection": ("Security", "Threat Detection and Response"),
    "azure sentinel": ("Security", "Threat Detection and Response"),
    "key vault": ("Security", "Secret Management"),
    "microsoft defender for cloud": ("Security", "Security Posture Management"),
    "microsoft.keyvault": ("Security", "Secret Management"),
    "microsoft.security": ("Security", "Security Posture Management"),
    "security center": ("Security", "Security Posture Management"),
    "sentinel": ("Security", "Threat Detection and Response"),
    # Storage
    "azure files": ("Storage", "File Storage"),
    "azure netapp files": ("Storage", "File Storage"),
    "backup": ("Storage", "Backup Storage"),
    "microsoft.recoveryservices": ("Storage", "Backup Storage"),
    "microsoft.storage": ("Storage", "Storage Platforms"),
    "storage": ("Storage", "Storage Platforms"),
    # Web
    "app service": ("Web", "Application Platforms"),
    "azure app service": ("Web", "Application Platforms"),
    "microsoft.web": ("Web", "Application Platforms"),
    "signalr": ("Web", "Other (Web)"),
    "static web apps": ("Web", "Application Platforms"),
}

# Azure region names and the pay-as-you-go export's legacy location names -> region ids.
LEGACY_REGIONS: dict[str, str] = {
    "useast": "eastus", "useast2": "eastus2", "uswest": "westus", "uswest2": "westus2",
    "uswest3": "westus3", "uscentral": "centralus", "usnorthcentral": "northcentralus",
    "ussouthcentral": "southcentralus", "uswestcentral": "westcentralus",
    "euwest": "westeurope", "eunorth": "northeurope", "apeast": "eastasia",
    "apsoutheast": "southeastasia", "jaeast": "japaneast", "jawest": "japanwest",
    "aueast": "australiaeast", "ausoutheast": "australiasoutheast",
    "brsouth": "brazilsouth", "cacentral": "canadacentral", "caeast": "canadaeast",
    "incentral": "centralindia", "insouth": "southindia", "inwest": "westindia",
    "krcentral": "koreacentral", "krsouth": "koreasouth", "frcentral": "francecentral",
    "unassigned": "", "unknown": "",
}  # fmt: skip
REGION_NAMES: dict[str, str] = {
    "eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2",
    "westus3": "West US 3", "centralus": "Central US", "northcentralus": "North Central US",
    "southcentralus": "South Central US", "westcentralus": "West Central US",
    "canadacentral": "Canada Central", "canadaeast": "Canada East",
    "brazilsouth": "Brazil South", "northeurope": "North Europe", "westeurope": "West Europe",
    "uksouth": "UK South", "ukwest": "UK West", "francecentral": "France Central",
    "germanywestcentral": "Germany West Central", "switzerlandnorth": "Switzerland North",
    "norwayeast": "Norway East", "swedencentral": "Sweden Central",
    "eastasia": "East Asia", "southeastasia": "Southeast Asia", "japaneast": "Japan East",
    "japanwest": "Japan West", "australiaeast": "Australia East",
    "australiasoutheast": "Australia Southeast", "centralindia": "Central India",
    "southindia": "South India", "westindia": "West India", "koreacentral": "Korea Central",
    "koreasouth": "Korea South", "southafricanorth": "South Africa North",
    "uaenorth": "UAE North",
}  # fmt: skip

# UnitOfMeasure's unit, lower case (after the block size `1`, `10K`, `100`) -> FOCUS unit.
UNIT_NAMES: dict[str, str] = {
    "": "Units", "hour": "Hours", "hours": "Hours", "day": "Days", "days": "Days",
    "month": "Months", "months": "Months", "minute": "Minutes", "minutes": "Minutes",
    "second": "Seconds", "seconds": "Seconds", "year": "Years", "years": "Years",
    "gb": "GB", "tb": "TB", "mb": "MB", "kb": "KB", "gib": "GiB", "tib": "TiB",
    "/month": "Units/Month", "/day": "Units/Day", "/hour": "Units/Hour",
}  # fmt: skip
