"""Acme Retail, the made-up company behind `cloudtally sample` (the shapes are in
`organisation.py`).

It runs a web shop on three clouds: mostly AWS (one payer account, 37 linked accounts), a
smaller Azure estate (one billing account, 8 subscriptions) and a little GCP (one billing
account, 5 projects). Eight teams own twelve products; accounts are split by team and
environment. Adding a service or an account is a one-line change here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cloudtally.sample.organisation import (
    Account,
    CreditProgram,
    Organisation,
    Provider,
    Region,
    Reservation,
    SavingsPlan,
    Service,
    Sku,
    SupportPlan,
    Team,
    aws_account_id,
    azure_subscription_id,
    details,
    sku_id,
)

TEAMS = (
    Team("web", "CC-1100", ("storefront", "cms")),
    Team("mobile", "CC-1200", ("mobile-app",)),
    Team("payments", "CC-1300", ("checkout", "billing-api")),
    Team("search", "CC-1400", ("search", "recommendations")),
    Team("data", "CC-1500", ("data-lake", "analytics")),
    Team("ml", "CC-1600", ("ml-platform",)),
    Team("platform", "CC-1700", ("internal-tools",)),
    Team("security", "CC-1800", ("identity",)),
)

AWS_PAYER = "004218837459"

PROVIDERS = (
    Provider(
        key="aws",
        name="AWS",
        billing_account_id=AWS_PAYER,
        billing_account_name="Acme Retail Management",
        billing_account_type="Management Account",
        sub_account_type="Member Account",
        invoice_prefix="EUINUS",
        negotiated_discount=Decimal("0.06"),
        tax_rate=Decimal("0.0725"),
        support=SupportPlan(
            "AWS Support (Business)",
            "AWS Support (Business) monthly fee",
            Decimal("0.03"),
            sku_id("aws", "support", "business"),
            "acme-management",
        ),
    ),
    Provider(
        key="azure",
        name="Microsoft",
        billing_account_id="7f3c9a21-5d4e-4b8a-9c1f-2e6d8b0a4c37:1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d_2019-05-31",
        billing_account_name="Acme Retail Ltd",
        billing_account_type="Billing Account",
        sub_account_type="Subscription",
        invoice_prefix="G0",
        negotiated_discount=Decimal("0.05"),
        tax_rate=Decimal("0.08"),
        support=SupportPlan(
            "Azure Support",
            "Professional Direct support plan",
            Decimal("0.02"),
            sku_id("azure", "support", "prodirect"),
            "az-corp-it",
        ),
    ),
    Provider(
        key="gcp",
        name="Google Cloud",
        billing_account_id="01A7F3-9C2B4E-D85F10",
        billing_account_name="Acme Retail GCP",
        billing_account_type="Billing Account",
        sub_account_type="Project",
        invoice_prefix="33",
        negotiated_discount=Decimal("0.07"),
        tax_rate=Decimal("0.0625"),
        support=SupportPlan(
            "Cloud Support",
            "Enhanced Support monthly fee",
            Decimal("0.03"),
            sku_id("gcp", "support", "enhanced"),
            "acme-analytics-prod",
        ),
        lowercase_tag_keys=True,
    ),
)

REGIONS = (
    Region("aws", "us-east-1", "US East (N. Virginia)", ("us-east-1a", "us-east-1b", "us-east-1c")),
    Region("aws", "us-west-2", "US West (Oregon)", ("us-west-2a", "us-west-2b", "us-west-2c")),
    Region("aws", "eu-west-1", "Europe (Ireland)", ("eu-west-1a", "eu-west-1b", "eu-west-1c")),
    Region("aws", "eu-central-1", "Europe (Frankfurt)", ("eu-central-1a", "eu-central-1b")),
    Region(
        "aws", "ap-southeast-2", "Asia Pacific (Sydney)", ("ap-southeast-2a", "ap-southeast-2b")
    ),
    Region("azure", "eastus", "East US"),
    Region("azure", "westeurope", "West Europe"),
    Region("azure", "northeurope", "North Europe"),
    Region("gcp", "us-central1", "Iowa", ("us-central1-a", "us-central1-b", "us-central1-c")),
    Region("gcp", "europe-west1", "Belgium", ("europe-west1-b", "europe-west1-c")),
    Region("gcp", "asia-northeast1", "Tokyo", ("asia-northeast1-a", "asia-northeast1-b")),
)

_US = ("us-east-1", "us-west-2")
_EU = ("eu-west-1", "eu-central-1")

_ENV_WEIGHT = {"prod": 3.0, "stage": 1.0, "dev": 1.3}


def _aws(
    name: str,
    env: str,
    team: str | None,
    weight: float,
    regions: tuple[str, ...] = _US,
    **extra: Any,
) -> Account:
    account_id = AWS_PAYER if name == "acme-management" else aws_account_id(name)
    return Account("aws", account_id, name, env, team, weight, regions, **extra)


_TEAM_ACCOUNTS = tuple(
    _aws(
        f"{team}-{env}",
        env,
        team,
        _ENV_WEIGHT[env] * scale,
        regions=regions,
    )
    for team, scale, regions in (
        ("web", 1.3, ("us-east-1", "eu-west-1")),
        ("mobile", 0.8, _US),
        ("payments", 1.1, ("us-east-1", "eu-central-1")),
        ("search", 1.0, _US),
        ("data", 1.2, ("us-west-2", "us-east-1")),
        ("ml", 0.9, ("us-west-2", "us-east-1")),
        ("platform", 0.9, _US),
    )
    for env in ("prod", "stage", "dev")
)

_NETWORK = ("AWS Data Transfer", "Amazon Virtual Private Cloud", "Elastic Load Balancing")

ACCOUNTS = (
    _aws(
        "acme-management",
        "prod",
        "platform",
        0.6,
        services=(
            "Amazon Simple Storage Service",
            "Amazon CloudWatch",
            "AWS Key Management Service",
        ),
    ),
    *_TEAM_ACCOUNTS,
    _aws("payments-pci-prod", "prod", "payments", 1.4, regions=("us-east-1", "eu-central-1")),
    _aws("web-legacy-prod", "prod", "web", 0.9, regions=("us-east-1",)),
    _aws("data-lake-prod", "prod", "data", 2.0, regions=("us-west-2",)),
    _aws("ml-training", "dev", "ml", 1.2, regions=("us-west-2",)),
    _aws("shared-services", "prod", None, 1.6),
    _aws("network-hub", "prod", "platform", 1.0, regions=(*_US, *_EU), services=_NETWORK),
    _aws("ci-build", "dev", "platform", 0.8, regions=("us-east-1",)),
    _aws(
        "backup-vault",
        "prod",
        "platform",
        0.4,
        services=("AWS Backup", "Amazon Simple Storage Service"),
    ),
    _aws("security-audit", "prod", "security", 0.5),
    _aws(
        "security-tooling",
        "prod",
        "security",
        0.6,
        services=(
            "Amazon GuardDuty",
            "AWS Key Management Service",
            "Amazon CloudWatch",
            "Amazon Elastic Compute Cloud",
            "Amazon Athena",
        ),
    ),
    _aws(
        "log-archive",
        "prod",
        "security",
        0.7,
        services=(
            "Amazon Simple Storage Service",
            "Amazon CloudWatch",
            "Amazon OpenSearch Service",
        ),
    ),
    *(
        _aws(f"sandbox-{n:02d}", "dev", None, 0.35, regions=("us-east-1",), untagged_boost=0.3)
        for n in range(1, 5)
    ),
    # Azure: data and ML work, identity, a European web front and corporate IT.
    *(
        Account("azure", azure_subscription_id(name), name, env, team, weight, regions)
        for name, env, team, weight, regions in (
            ("az-data-prod", "prod", "data", 1.8, ("westeurope", "northeurope")),
            ("az-data-dev", "dev", "data", 0.8, ("westeurope",)),
            ("az-ml-prod", "prod", "ml", 1.2, ("eastus", "westeurope")),
            ("az-ml-dev", "dev", "ml", 0.7, ("eastus",)),
            ("az-identity-prod", "prod", "security", 0.6, ("westeurope", "northeurope")),
            ("az-corp-it", "prod", "platform", 0.9, ("westeurope",)),
            ("az-web-eu-prod", "prod", "web", 1.4, ("westeurope", "northeurope")),
            ("az-sandbox", "dev", None, 0.4, ("eastus",)),
        )
    ),
    # GCP: analytics on BigQuery, search and an ML project.
    *(
        Account("gcp", name, name, env, team, weight, regions)
        for name, env, team, weight, regions in (
            ("acme-analytics-prod", "prod", "data", 1.6, ("us-central1", "europe-west1")),
            ("acme-analytics-dev", "dev", "data", 0.6, ("us-central1",)),
            ("acme-search-prod", "prod", "search", 1.2, ("us-central1", "asia-northeast1")),
            ("acme-search-stage", "stage", "search", 0.5, ("us-central1",)),
            ("acme-ml-prod", "prod", "ml", 1.0, ("us-central1",)),
        )
    ),
)

_EC2_ID = "arn:aws:ec2:{region}:{account}:instance/i-{hex17}"
_AZ_RG = "/subscriptions/{account}/resourceGroups/rg-{team}-{env}/providers/"
_GCE = "//compute.googleapis.com/projects/{account}/zones/{zone}/instances/{name}"


def _vm(name: str, vcpu: int, memory: int, os: str = "Linux") -> str:
    return details(InstanceType=name, CoreCount=vcpu, MemorySize=memory, OperatingSystem=os)


# Service(provider, name, category, subcategory, resource type, unit, shape, weight, SKUs,
#         resource id pattern, name stem, keyword options...): one line per field would make
#         this table four times as long and no clearer.
SERVICES = (
    # -- AWS -----------------------------------------------------------------------------------
    Service(
        "aws", "Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "Instance", "Hours",
        "hours", 34,
        (
            Sku("t3.medium", "0.0416", "Compute Instance", _vm("t3.medium", 2, 4)),
            Sku("m6i.large", "0.096", "Compute Instance", _vm("m6i.large", 2, 8)),
            Sku("m6i.xlarge", "0.192", "Compute Instance", _vm("m6i.xlarge", 4, 16)),
            Sku("m6i.2xlarge", "0.384", "Compute Instance", _vm("m6i.2xlarge", 8, 32)),
            Sku("c6i.2xlarge", "0.34", "Compute Instance", _vm("c6i.2xlarge", 8, 16)),
            Sku("c6i.4xlarge", "0.68", "Compute Instance", _vm("c6i.4xlarge", 16, 32)),
            Sku("r6i.xlarge", "0.252", "Compute Instance", _vm("r6i.xlarge", 4, 32)),
            Sku("r6i.2xlarge", "0.504", "Compute Instance", _vm("r6i.2xlarge", 8, 64)),
            Sku("m7g.large", "0.0816", "Compute Instance", _vm("m7g.large", 2, 8)),
        ),
        _EC2_ID, "app", spot_share=0.3, commitment_eligible=True, zonal=True, quantity_places=0,
    ),
    Service(
        "aws", "Amazon Elastic Block Store", "Storage", "Block Storage", "Volume", "GB-Months",
        "storage", 14,
        (
            Sku("gp3", "0.08", "Storage", details(StorageClass="gp3", DiskType="SSD")),
            Sku("io2", "0.125", "Storage", details(StorageClass="io2", DiskType="SSD")),
            Sku("st1", "0.045", "Storage", details(StorageClass="st1", DiskType="HDD")),
        ),
        "arn:aws:ec2:{region}:{account}:volume/vol-{hex17}", "vol", base=(50, 2000), zonal=True,
    ),
    Service(
        "aws", "Amazon Simple Storage Service", "Storage", "Object Storage", "Bucket", "GB-Months",
        "storage", 8,
        (
            Sku("Standard", "0.023", "Storage", details(StorageClass="Standard", Redundancy="Regional")),
            Sku("Standard-IA", "0.0125", "Storage", details(StorageClass="Standard-IA", Redundancy="Regional")),
            Sku("Glacier Instant Retrieval", "0.004", "Storage", details(StorageClass="Glacier Instant Retrieval", Redundancy="Regional")),
        ),
        "arn:aws:s3:::{name}", "bucket", base=(100, 40000),
        name_pattern="acme-{team}-{env}-{stem}-{n}",
    ),
    Service(
        "aws", "Amazon Relational Database Service", "Databases", "Relational Databases",
        "DB Instance", "Hours", "hours", 6,
        (
            Sku("db.r6g.large", "0.225", "Database Instance", _vm("db.r6g.large", 2, 16)),
            Sku("db.m6g.xlarge", "0.308", "Database Instance", _vm("db.m6g.xlarge", 4, 16)),
            Sku("db.t4g.medium", "0.065", "Database Instance", _vm("db.t4g.medium", 2, 4)),
        ),
        "arn:aws:rds:{region}:{account}:db:{name}", "db", always_on=True, zonal=True,
        quantity_places=0,
    ),
    Service(
        "aws", "Amazon DynamoDB", "Databases", "NoSQL Databases", "Table", "Requests", "usage", 3,
        (Sku("WriteRequestUnits", "0.00000125", "Write Request Units"),),
        "arn:aws:dynamodb:{region}:{account}:table/{name}", "table", base=(1e5, 4e7),
        weekend=0.7, noise=0.15, quantity_places=0,
    ),
    Service(
        "aws", "Amazon ElastiCache", "Databases", "Caching", "Cache Node", "Hours", "hours", 2,
        (
            Sku("cache.r6g.large", "0.206", "Cache Node", _vm("cache.r6g.large", 2, 13)),
            Sku("cache.t4g.small", "0.032", "Cache Node", _vm("cache.t4g.small", 2, 1)),
        ),
        "arn:aws:elasticache:{region}:{account}:cluster:{name}", "cache", always_on=True,
        zonal=True, quantity_places=0,
    ),
    Service(
        "aws", "AWS Lambda", "Compute", "Serverless Compute", "Function", "GB-Seconds", "usage", 4,
        (Sku("Lambda-GB-Second", "0.0000166667", "Compute Duration"),),
        "arn:aws:lambda:{region}:{account}:function:{name}", "fn", base=(1e3, 4e5),
        weekend=0.6, noise=0.2, quantity_places=3,
    ),
    Service(
        "aws", "Amazon Elastic Kubernetes Service", "Compute", "Containers", "Cluster", "Hours",
        "hours", 1.5, (Sku("EKS cluster", "0.10", "Cluster Hours"),),
        "arn:aws:eks:{region}:{account}:cluster/{name}", "eks", always_on=True,
        quantity_places=0,
    ),
    Service(
        "aws", "AWS Data Transfer", "Networking", "Network Connectivity", "Data Transfer", "GB",
        "usage", 6,
        (
            Sku("DataTransfer-Out-Bytes", "0.09", "Data Transfer Out"),
            Sku("DataTransfer-Regional-Bytes", "0.01", "Data Transfer Regional"),
            Sku("DataTransfer-InterRegion", "0.02", "Data Transfer Inter-Region"),
        ),
        "arn:aws:ec2:{region}:{account}:network-interface/eni-{hex17}", "eni", base=(5, 1500),
        weekend=0.8, noise=0.55, quantity_places=4,
    ),
    Service(
        "aws", "Amazon CloudFront", "Networking", "Content Delivery", "Distribution", "GB",
        "usage", 2, (Sku("DataTransfer-Out-Bytes", "0.085", "Data Transfer Out"),),
        "arn:aws:cloudfront::{account}:distribution/E{hex8}", "cdn", base=(10, 4000),
        weekend=1.15, noise=0.35, regional=False, teams=("web", "mobile", "search"),
        quantity_places=4,
    ),
    Service(
        "aws", "Amazon Virtual Private Cloud", "Networking", "Network Infrastructure",
        "NAT Gateway", "Hours", "hours", 2, (Sku("NatGateway-Hours", "0.045", "NAT Gateway"),),
        "arn:aws:ec2:{region}:{account}:natgateway/nat-{hex17}", "nat", always_on=True,
        zonal=True, quantity_places=0,
    ),
    Service(
        "aws", "Elastic Load Balancing", "Networking", "Application Networking", "Load Balancer",
        "Hours", "hours", 2.5, (Sku("LoadBalancerUsage", "0.0225", "Load Balancer"),),
        "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{hex8}", "alb",
        always_on=True, quantity_places=0,
    ),
    Service(
        "aws", "Amazon CloudWatch", "Management and Governance", "Observability", "Log Group",
        "GB", "usage", 4, (Sku("DataProcessing-Bytes", "0.50", "Log Ingestion"),),
        "arn:aws:logs:{region}:{account}:log-group:/acme/{name}", "logs", base=(0.2, 15),
        weekend=0.75, noise=0.2, quantity_places=4,
    ),
    Service(
        "aws", "AWS Key Management Service", "Security", "Secret Management", "Key", "Requests",
        "usage", 1, (Sku("KMS-Requests", "0.000003", "API Requests"),),
        "arn:aws:kms:{region}:{account}:key/{hex17}", "key", base=(1e3, 2e6), weekend=0.7,
        noise=0.15, quantity_places=0,
    ),
    Service(
        "aws", "Amazon GuardDuty", "Security", "Threat Detection and Response", "Detector", "GB",
        "usage", 1, (Sku("VPC Flow Log Analysis", "1.00", "Log Analysis"),),
        "arn:aws:guardduty:{region}:{account}:detector/{hex17}", "detector", base=(0.5, 12),
        weekend=0.85, noise=0.1, quantity_places=4,
    ),
    Service(
        "aws", "Amazon Athena", "Analytics", "Data Processing", "Workgroup", "TB", "usage", 1.5,
        (Sku("DataScannedInTB", "5.00", "Data Scanned"),),
        "arn:aws:athena:{region}:{account}:workgroup/{name}", "wg", base=(0.01, 1.5),
        weekend=0.4, noise=0.5, teams=("data", "security", "search"), quantity_places=6,
    ),
    Service(
        "aws", "Amazon Redshift", "Databases", "Data Warehouses", "Cluster", "Hours", "hours", 1,
        (Sku("ra3.xlplus", "1.086", "Compute Node", _vm("ra3.xlplus", 4, 32)),),
        "arn:aws:redshift:{region}:{account}:cluster:{name}", "dwh", always_on=True,
        teams=("data",), quantity_places=0,
    ),
    Service(
        "aws", "Amazon Kinesis", "Analytics", "Streaming Analytics", "Stream", "Hours", "hours", 1,
        (Sku("Shard-Hours", "0.015", "Shard Hours"),),
        "arn:aws:kinesis:{region}:{account}:stream/{name}", "stream", always_on=True,
        teams=("data", "payments", "web"), quantity_places=0,
    ),
    Service(
        "aws", "Amazon OpenSearch Service", "Analytics", "Search", "Domain", "Hours", "hours", 1.5,
        (Sku("r6g.large.search", "0.167", "Search Instance", _vm("r6g.large.search", 2, 16)),),
        "arn:aws:es:{region}:{account}:domain/{name}", "search", always_on=True,
        teams=("search", "security", "platform"), quantity_places=0,
    ),
    Service(
        "aws", "Amazon SageMaker", "AI and Machine Learning", "Machine Learning",
        "Notebook Instance", "Hours", "hours", 1.5,
        (
            Sku("ml.g5.xlarge", "1.408", "ML Instance", _vm("ml.g5.xlarge", 4, 16)),
            Sku("ml.m5.xlarge", "0.23", "ML Instance", _vm("ml.m5.xlarge", 4, 16)),
        ),
        "arn:aws:sagemaker:{region}:{account}:notebook-instance/{name}", "nb",
        teams=("ml", "data"), quantity_places=0,
    ),
    Service(
        "aws", "Amazon Bedrock", "AI and Machine Learning", "Generative AI", "Model Invocation",
        "1000 Tokens", "usage", 1.5, (Sku("Claude-Input-Tokens", "0.003", "Input Tokens"),),
        "arn:aws:bedrock:{region}:{account}:application-inference-profile/{hex8}", "genai",
        base=(300, 10000), weekend=0.5, noise=0.3, teams=("ml", "search"), quantity_places=3,
    ),
    Service(
        "aws", "Amazon Route 53", "Networking", "Network Routing", "Hosted Zone", "Requests",
        "usage", 0.5, (Sku("DNS-Queries", "0.0000004", "DNS Queries"),),
        "arn:aws:route53:::hostedzone/Z{hex17}", "zone", base=(1e4, 5e6), weekend=0.9,
        noise=0.1, regional=False, quantity_places=0,
    ),
    Service(
        "aws", "AWS Backup", "Storage", "Backup Storage", "Backup Vault", "GB-Months", "storage", 1,
        (Sku("WarmStorage", "0.05", "Backup Storage", details(StorageClass="Warm")),),
        "arn:aws:backup:{region}:{account}:backup-vault:{name}", "vault", base=(100, 20000),
    ),
    # -- Azure ---------------------------------------------------------------------------------
    Service(
        "azure", "Virtual Machines", "Compute", "Virtual Machines", "Virtual machine", "Hours",
        "hours", 32,
        (
            Sku("D2s v5", "0.096", "D2s v5", _vm("Standard_D2s_v5", 2, 8)),
            Sku("D4s v5", "0.192", "D4s v5", _vm("Standard_D4s_v5", 4, 16)),
            Sku("D8s v5", "0.384", "D8s v5", _vm("Standard_D8s_v5", 8, 32)),
            Sku("E4s v5", "0.252", "E4s v5", _vm("Standard_E4s_v5", 4, 32)),
            Sku("D4s v5 Windows", "0.376", "D4s v5", _vm("Standard_D4s_v5", 4, 16, "Windows")),
        ),
        _AZ_RG + "Microsoft.Compute/virtualMachines/{name}", "vm", spot_share=0.2,
        quantity_places=0,
    ),
    Service(
        "azure", "Storage", "Storage", "Object Storage", "Storage account", "GB-Months", "storage",
        10,
        (
            Sku("Hot LRS", "0.0184", "Hot LRS Data Stored", details(StorageClass="Hot", Redundancy="Local")),
            Sku("Cool LRS", "0.01", "Cool LRS Data Stored", details(StorageClass="Cool", Redundancy="Local")),
        ),
        _AZ_RG + "Microsoft.Storage/storageAccounts/st{hex8}", "st", base=(100, 30000),
    ),
    Service(
        "azure", "Managed Disks", "Storage", "Block Storage", "Disk", "GB-Months", "storage", 8,
        (Sku("P30 LRS", "0.1352", "P30 LRS Disk", details(DiskType="Premium SSD")),),
        _AZ_RG + "Microsoft.Compute/disks/{name}", "disk", base=(64, 2048),
    ),
    Service(
        "azure", "Azure SQL Database", "Databases", "Relational Databases", "SQL database",
        "Hours", "hours", 6, (Sku("vCore General Purpose", "0.5044", "vCore"),),
        _AZ_RG + "Microsoft.Sql/servers/sql-{team}-{env}/databases/{name}", "sqldb",
        always_on=True, quantity_places=0,
    ),
    Service(
        "azure", "Azure Cosmos DB", "Databases", "NoSQL Databases", "Cosmos DB account", "Hours",
        "hours", 3, (Sku("100 RU/s", "0.008", "100 RU/s"),),
        _AZ_RG + "Microsoft.DocumentDB/databaseAccounts/{name}", "cosmos", always_on=True,
        quantity_places=0,
    ),
    Service(
        "azure", "Azure Kubernetes Service", "Compute", "Containers", "Managed cluster", "Hours",
        "hours", 2, (Sku("Standard tier cluster", "0.10", "Uptime SLA"),),
        _AZ_RG + "Microsoft.ContainerService/managedClusters/{name}", "aks", always_on=True,
        quantity_places=0,
    ),
    Service(
        "azure", "Bandwidth", "Networking", "Network Connectivity", "Network interface", "GB",
        "usage", 5, (Sku("Data Transfer Out", "0.087", "Standard Data Transfer Out"),),
        _AZ_RG + "Microsoft.Network/networkInterfaces/{name}", "nic", base=(5, 800), weekend=0.8,
        noise=0.5, quantity_places=4,
    ),
    Service(
        "azure", "Azure Monitor", "Management and Governance", "Observability",
        "Log Analytics workspace", "GB", "usage", 3, (Sku("Analytics Logs", "2.30", "Data Ingestion"),),
        _AZ_RG + "Microsoft.OperationalInsights/workspaces/{name}", "law", base=(0.5, 30),
        weekend=0.75, noise=0.2, quantity_places=4,
    ),
    Service(
        "azure", "Azure Machine Learning", "AI and Machine Learning", "Machine Learning",
        "Compute instance", "Hours", "hours", 0.8,
        (
            Sku("NC4as T4 v3", "0.526", "NC4as T4 v3", _vm("Standard_NC4as_T4_v3", 4, 28)),
            Sku("NC6s v3", "3.06", "NC6s v3", _vm("Standard_NC6s_v3", 6, 112)),
        ),
        _AZ_RG + "Microsoft.MachineLearningServices/workspaces/mlw-{team}/computes/{name}", "gpu",
        teams=("ml", "data"), quantity_places=0,
    ),
    Service(
        "azure", "Key Vault", "Security", "Secret Management", "Key vault", "Requests", "usage", 1,
        (Sku("Operations", "0.000003", "Operations"),),
        _AZ_RG + "Microsoft.KeyVault/vaults/kv-{hex8}", "kv", base=(1e4, 1e6), weekend=0.7,
        noise=0.15, quantity_places=0,
    ),
    # -- Google Cloud --------------------------------------------------------------------------
    Service(
        "gcp", "Compute Engine", "Compute", "Virtual Machines", "Compute instance", "Hours",
        "hours", 25,
        (
            Sku("N2 Standard 4", "0.194236", "N2 Instance Core and Ram", _vm("n2-standard-4", 4, 16)),
            Sku("E2 Standard 2", "0.067006", "E2 Instance Core and Ram", _vm("e2-standard-2", 2, 8)),
            Sku("N2 Highmem 4", "0.262036", "N2 Instance Core and Ram", _vm("n2-highmem-4", 4, 32)),
        ),
        _GCE, "vm", spot_share=0.25, zonal=True, quantity_places=0,
    ),
    Service(
        "gcp", "Cloud Storage", "Storage", "Object Storage", "Bucket", "GiB-Months", "storage", 10,
        (
            Sku("Standard Storage", "0.02", "Standard Storage", details(StorageClass="Standard")),
            Sku("Nearline Storage", "0.01", "Nearline Storage", details(StorageClass="Nearline")),
        ),
        "//storage.googleapis.com/projects/_/buckets/{name}", "bucket", base=(100, 40000),
        name_pattern="acme-{team}-{env}-{stem}-{n}",
    ),
    Service(
        "gcp", "BigQuery", "Databases", "Data Warehouses", "Dataset", "TiB", "usage", 8,
        (Sku("Analysis", "6.25", "Analysis"),),
        "//bigquery.googleapis.com/projects/{account}/datasets/{stem}_{n}", "ds",
        base=(0.005, 0.8), weekend=0.35, noise=0.45, quantity_places=6,
    ),
    Service(
        "gcp", "Cloud SQL", "Databases", "Relational Databases", "Cloud SQL instance", "Hours",
        "hours", 5, (Sku("DB custom CORE", "0.2", "vCPU and RAM"),),
        "//cloudsql.googleapis.com/projects/{account}/instances/{name}", "sql", always_on=True,
        quantity_places=0,
    ),
    Service(
        "gcp", "Kubernetes Engine", "Compute", "Containers", "Cluster", "Hours", "hours", 3,
        (Sku("Regional Kubernetes Clusters", "0.10", "Cluster Management Fee"),),
        "//container.googleapis.com/projects/{account}/locations/{region}/clusters/{name}", "gke",
        always_on=True, quantity_places=0,
    ),
    Service(
        "gcp", "Networking", "Networking", "Network Connectivity", "Network", "GiB", "usage", 5,
        (Sku("Network Internet Egress", "0.12", "Internet Egress"),),
        "//compute.googleapis.com/projects/{account}/global/networks/{name}", "net",
        base=(5, 600), weekend=0.8, noise=0.5, quantity_places=4,
    ),
    Service(
        "gcp", "Cloud Logging", "Management and Governance", "Observability", "Log bucket", "GiB",
        "usage", 3, (Sku("Log Volume", "0.50", "Log Volume"),),
        "//logging.googleapis.com/projects/{account}/locations/global/buckets/{name}", "logs",
        base=(0.5, 40), weekend=0.75, noise=0.2, quantity_places=4,
    ),
    Service(
        "gcp", "Vertex AI", "AI and Machine Learning", "AI Platforms", "Endpoint", "Hours", "hours",
        1.2, (Sku("Online Prediction n1-standard-4 T4", "0.75", "Prediction Node"),),
        "//aiplatform.googleapis.com/projects/{account}/locations/{region}/endpoints/{hex8}",
        "endpoint", teams=("ml", "search"), quantity_places=0,
    ),
    Service(
        "gcp", "Cloud Pub/Sub", "Integration", "Messaging", "Topic", "TiB", "usage", 1.5,
        (Sku("Message Delivery Basic", "40", "Throughput"),),
        "//pubsub.googleapis.com/projects/{account}/topics/{name}", "topic", base=(0.001, 0.08),
        weekend=0.7, noise=0.2, quantity_places=6,
    ),
)  # fmt: skip

SAVINGS_PLANS = (
    SavingsPlan(
        provider="aws",
        id=f"arn:aws:savingsplans::{AWS_PAYER}:savingsplan/5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        name="Compute Savings Plan 1yr No Upfront",
        account="shared-services",
        service_name="Savings Plans for AWS Compute usage",
        category="Compute",
        subcategory="Other (Compute)",
        type="Compute Savings Plan",
        rate=Decimal("0.68"),
        coverage=0.85,
        utilisation=Decimal("0.94"),
        sku_id=sku_id("aws", "savingsplans", "compute-1yr-noupfront"),
    ),
)

# Written with `cloudtally sample --commitments` only (they change the totals).
RESERVATIONS = (
    Reservation(
        provider="aws",
        id=f"arn:aws:rds:us-east-1:{AWS_PAYER}:ri:acme-db-r6g-large-2024",
        name="RDS db.r6g.large 1yr Partial Upfront",
        account="shared-services",
        service="Amazon Relational Database Service",
        sku="db.r6g.large",
        type="Reserved Instance",
        rate=Decimal("0.66"),
        upfront_share=Decimal("0.5"),
        spare=2,
        term_days=365,
    ),
    Reservation(
        provider="aws",
        id=f"arn:aws:ec2:us-east-1:{AWS_PAYER}:reserved-instances/0b7e4c1a-6d2f-4e8a-9c3b-5a1f2e3d4c5b",
        name="EC2 m6i.xlarge 1yr No Upfront",
        account="shared-services",
        service="Amazon Elastic Compute Cloud",
        sku="m6i.xlarge",
        type="Reserved Instance",
        rate=Decimal("0.62"),
        upfront_share=Decimal("0"),
        spare=1,
        term_days=365,
        ends_after_window_days=20,
    ),
    Reservation(
        provider="azure",
        id="/providers/Microsoft.Capacity/reservationOrders/7c1d9e2f-3a4b-4c5d-8e6f-9a0b1c2d3e4f"
        "/reservations/1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
        name="D4s v5 1 year reservation",
        account="az-corp-it",
        service="Virtual Machines",
        sku="D4s v5",
        type="Reservation",
        rate=Decimal("0.6"),
        upfront_share=Decimal("0"),
        spare=1,
        term_days=365,
        ends_after_window_days=75,
    ),
    Reservation(
        provider="gcp",
        id="projects/acme-analytics-prod/regions/us-central1/commitments/n2-standard-3y",
        name="N2 resource-based commitment, 3 years",
        account="acme-analytics-prod",
        service="Compute Engine",
        sku="N2 Standard 4",
        type="Committed Use Discount",
        rate=Decimal("0.45"),
        upfront_share=Decimal("0"),
        spare=0,
        term_days=1095,
        ends_after_window_days=700,
    ),
)

CREDITS = (
    CreditProgram(
        "aws",
        "AWS Promotional Credit: ML Accelerate programme",
        "Amazon SageMaker",
        ("ml-dev", "ml-training"),
        Decimal("0.6"),
    ),
    CreditProgram(
        "gcp",
        "Sustained use discount",
        "Compute Engine",
        ("acme-analytics-prod", "acme-search-prod", "acme-ml-prod"),
        Decimal("0.2"),
    ),
    CreditProgram(
        "azure",
        "Azure Dev/Test credit",
        "Virtual Machines",
        ("az-data-dev", "az-ml-dev", "az-sandbox"),
        Decimal("0.15"),
    ),
)

ACME = Organisation(
    company="Acme Retail",
    teams=TEAMS,
    providers=PROVIDERS,
    regions=REGIONS,
    accounts=ACCOUNTS,
    services=SERVICES,
    savings_plans=SAVINGS_PLANS,
    credits=CREDITS,
    reservations=RESERVATIONS,
)
