"""AWS product codes -> FOCUS 1.2 ServiceCategory and ServiceSubcategory.

CUR names the service of every line in `lineItem/ProductCode` (`line_item_product_code`); the
FOCUS 1.2 categories and their subcategories are a closed list (the spec's ServiceCategory and
ServiceSubcategory columns). The table covers the services most bills are made of; any other
product code, including AWS Marketplace listings, is `Other` / `Other (Other)`, which the spec
allows for a service it does not categorise.
"""

from __future__ import annotations

from cloudtally.ingest.formats.base import literal

OTHER = ("Other", "Other (Other)")

# Product code -> (ServiceCategory, ServiceSubcategory). Keep each category's block sorted.
SERVICE_CATEGORIES: dict[str, tuple[str, str]] = {
    # AI and Machine Learning
    "AmazonBedrock": ("AI and Machine Learning", "Generative AI"),
    "AmazonForecast": ("AI and Machine Learning", "Machine Learning"),
    "AmazonFraudDetector": ("AI and Machine Learning", "Machine Learning"),
    "AmazonKendra": ("AI and Machine Learning", "Natural Language Processing"),
    "AmazonLex": ("AI and Machine Learning", "Bots"),
    "AmazonPersonalize": ("AI and Machine Learning", "Machine Learning"),
    "AmazonPolly": ("AI and Machine Learning", "Natural Language Processing"),
    "AmazonQ": ("AI and Machine Learning", "Generative AI"),
    "AmazonRekognition": ("AI and Machine Learning", "Machine Learning"),
    "AmazonSageMaker": ("AI and Machine Learning", "AI Platforms"),
    "AmazonTextract": ("AI and Machine Learning", "Machine Learning"),
    "MachineLearningSavingsPlans": ("AI and Machine Learning", "Other (AI and Machine Learning)"),
    "comprehend": ("AI and Machine Learning", "Natural Language Processing"),
    "transcribe": ("AI and Machine Learning", "Natural Language Processing"),
    "translate": ("AI and Machine Learning", "Natural Language Processing"),
    # Analytics
    "AWSDataExchange": ("Analytics", "Other (Analytics)"),
    "AWSGlue": ("Analytics", "Data Processing"),
    "AmazonAthena": ("Analytics", "Analytics Platforms"),
    "AmazonCloudSearch": ("Analytics", "Search"),
    "AmazonES": ("Analytics", "Search"),
    "AmazonKinesis": ("Analytics", "Streaming Analytics"),
    "AmazonKinesisAnalytics": ("Analytics", "Streaming Analytics"),
    "AmazonKinesisFirehose": ("Analytics", "Streaming Analytics"),
    "AmazonMSK": ("Analytics", "Streaming Analytics"),
    "AmazonQuickSight": ("Analytics", "Business Intelligence"),
    "ElasticMapReduce": ("Analytics", "Data Processing"),
    "datapipeline": ("Analytics", "Data Processing"),
    # Business Applications
    "AmazonChime": ("Business Applications", "Productivity and Collaboration"),
    "AmazonConnect": ("Business Applications", "Other (Business Applications)"),
    "AmazonPinpoint": ("Business Applications", "Other (Business Applications)"),
    "AmazonWorkDocs": ("Business Applications", "Productivity and Collaboration"),
    "AmazonWorkMail": ("Business Applications", "Productivity and Collaboration"),
    # Compute
    "AWSLambda": ("Compute", "Serverless Compute"),
    "AWSOutposts": ("Compute", "Other (Compute)"),
    "AmazonAppStream": ("Compute", "End User Computing"),
    "AmazonBraket": ("Compute", "Quantum Compute"),
    "AmazonEC2": ("Compute", "Virtual Machines"),
    "AmazonECR": ("Compute", "Containers"),
    "AmazonECS": ("Compute", "Containers"),
    "AmazonEKS": ("Compute", "Containers"),
    "AmazonLightsail": ("Compute", "Virtual Machines"),
    "AmazonWorkSpaces": ("Compute", "End User Computing"),
    "ComputeSavingsPlans": ("Compute", "Other (Compute)"),
    # Databases
    "AmazonDocDB": ("Databases", "NoSQL Databases"),
    "AmazonDynamoDB": ("Databases", "NoSQL Databases"),
    "AmazonElastiCache": ("Databases", "Caching"),
    "AmazonMCS": ("Databases", "NoSQL Databases"),
    "AmazonMemoryDB": ("Databases", "Caching"),
    "AmazonNeptune": ("Databases", "NoSQL Databases"),
    "AmazonQLDB": ("Databases", "Ledger Databases"),
    "AmazonRDS": ("Databases", "Relational Databases"),
    "AmazonRedshift": ("Databases", "Data Warehouses"),
    "AmazonTimestream": ("Databases", "Time Series Databases"),
    "DatabaseSavingsPlans": ("Databases", "Other (Databases)"),
    # Developer Tools
    "AWSCloud9": ("Developer Tools", "Development Environments"),
    "AWSCloudShell": ("Developer Tools", "Development Environments"),
    "AWSCodeArtifact": ("Developer Tools", "Other (Developer Tools)"),
    "AWSCodeCommit": ("Developer Tools", "Source Code Management"),
    "AWSCodeDeploy": ("Developer Tools", "Continuous Integration and Deployment"),
    "AWSCodePipeline": ("Developer Tools", "Continuous Integration and Deployment"),
    "AWSDeviceFarm": ("Developer Tools", "Quality Assurance"),
    "CodeBuild": ("Developer Tools", "Continuous Integration and Deployment"),
    "CodeCatalyst": ("Developer Tools", "Developer Platforms"),
    "CodeGuru": ("Developer Tools", "Quality Assurance"),
    # Identity
    "AWSDirectoryService": ("Identity", "Identity and Access Management"),
    "AmazonCognito": ("Identity", "Identity and Access Management"),
    "AmazonVerifiedPermissions": ("Identity", "Identity and Access Management"),
    # Integration
    "AWSAppSync": ("Integration", "API Management"),
    "AWSEvents": ("Integration", "Messaging"),
    "AWSQueueService": ("Integration", "Messaging"),
    "AmazonApiGateway": ("Integration", "API Management"),
    "AmazonMQ": ("Integration", "Messaging"),
    "AmazonMWAA": ("Integration", "Workflow Orchestration"),
    "AmazonSES": ("Integration", "Messaging"),
    "AmazonSNS": ("Integration", "Messaging"),
    "AmazonSWF": ("Integration", "Workflow Orchestration"),
    "AmazonStates": ("Integration", "Workflow Orchestration"),
    "AppFlow": ("Integration", "Other (Integration)"),
    # Internet of Things
    "AWSGreengrass": ("Internet of Things", "IoT Platforms"),
    "AWSIoT": ("Internet of Things", "IoT Platforms"),
    "AWSIoTAnalytics": ("Internet of Things", "IoT Analytics"),
    "AWSIoTEvents": ("Internet of Things", "IoT Platforms"),
    "AWSIoTSiteWise": ("Internet of Things", "IoT Platforms"),
    # Management and Governance
    "AWSBillingConductor": ("Management and Governance", "Cost Management"),
    "AWSBudgets": ("Management and Governance", "Cost Management"),
    "AWSCloudFormation": ("Management and Governance", "Architecture"),
    "AWSCloudTrail": ("Management and Governance", "Compliance"),
    "AWSConfig": ("Management and Governance", "Compliance"),
    "AWSCostExplorer": ("Management and Governance", "Cost Management"),
    "AWSDeveloperSupport": ("Management and Governance", "Support"),
    "AWSLakeFormation": ("Management and Governance", "Data Governance"),
    "AWSElasticDisasterRecovery": ("Management and Governance", "Disaster Recovery"),
    "AWSResilienceHub": ("Management and Governance", "Disaster Recovery"),
    "AWSServiceCatalog": ("Management and Governance", "Other (Management and Governance)"),
    "AWSSupportBusiness": ("Management and Governance", "Support"),
    "AWSSupportEnterprise": ("Management and Governance", "Support"),
    "AWSSystemsManager": ("Management and Governance", "Endpoint Management"),
    "AWSXRay": ("Management and Governance", "Observability"),
    "AmazonCloudWatch": ("Management and Governance", "Observability"),
    "AmazonGrafana": ("Management and Governance", "Observability"),
    "AmazonPrometheus": ("Management and Governance", "Observability"),
    "auditmanager": ("Management and Governance", "Compliance"),
    # Media
    "AWSElementalMediaConvert": ("Media", "Content Creation"),
    "AWSElementalMediaLive": ("Media", "Media Streaming"),
    "AWSElementalMediaPackage": ("Media", "Media Streaming"),
    "AWSElementalMediaTailor": ("Media", "Media Streaming"),
    "AmazonGameLift": ("Media", "Gaming"),
    "AmazonIVS": ("Media", "Media Streaming"),
    "AmazonKinesisVideo": ("Media", "Media Streaming"),
    # Migration
    "AWSApplicationMigrationSvc": ("Migration", "Resource Migration"),
    "AWSDataSync": ("Migration", "Data Migration"),
    "AWSDatabaseMigrationSvc": ("Migration", "Data Migration"),
    "AWSMigrationHubRefactorSpaces": ("Migration", "Resource Migration"),
    "AWSTransfer": ("Migration", "Data Migration"),
    "IngestionServiceSnowball": ("Migration", "Data Migration"),
    # Networking
    "AWSAppMesh": ("Networking", "Application Networking"),
    "AWSCloudMap": ("Networking", "Application Networking"),
    "AWSCloudWAN": ("Networking", "Network Connectivity"),
    "AWSDataTransfer": ("Networking", "Network Connectivity"),
    "AWSDirectConnect": ("Networking", "Network Connectivity"),
    "AWSELB": ("Networking", "Application Networking"),
    "AWSFMS": ("Networking", "Network Security"),
    "AWSGlobalAccelerator": ("Networking", "Network Routing"),
    "AWSNetworkFirewall": ("Networking", "Network Security"),
    "AWSShield": ("Networking", "Network Security"),
    "AmazonCloudFront": ("Networking", "Content Delivery"),
    "AmazonRoute53": ("Networking", "Network Routing"),
    "AmazonVPC": ("Networking", "Network Infrastructure"),
    "awswaf": ("Networking", "Network Security"),
    # Security
    "AWSCertificateManager": ("Security", "Secret Management"),
    "AWSSecretsManager": ("Security", "Secret Management"),
    "AWSSecurityHub": ("Security", "Security Posture Management"),
    "AmazonDetective": ("Security", "Threat Detection and Response"),
    "AmazonGuardDuty": ("Security", "Threat Detection and Response"),
    "AmazonInspector": ("Security", "Security Posture Management"),
    "AmazonInspectorV2": ("Security", "Security Posture Management"),
    "AmazonMacie": ("Security", "Security Posture Management"),
    "AmazonSecurityLake": ("Security", "Other (Security)"),
    "CloudHSM": ("Security", "Secret Management"),
    "awskms": ("Security", "Secret Management"),
    # Storage
    "AWSBackup": ("Storage", "Backup Storage"),
    "AWSStorageGateway": ("Storage", "Storage Platforms"),
    "AmazonEFS": ("Storage", "File Storage"),
    "AmazonFSx": ("Storage", "File Storage"),
    "AmazonGlacier": ("Storage", "Object Storage"),
    "AmazonS3": ("Storage", "Object Storage"),
    "AmazonS3GlacierDeepArchive": ("Storage", "Object Storage"),
    # Web
    "AWSAmplify": ("Web", "Application Platforms"),
    "AWSAppRunner": ("Web", "Application Platforms"),
    "AWSElasticBeanstalk": ("Web", "Application Platforms"),
}


def service_sql(product_code: str, part: int) -> str:
    """SQL for the ServiceCategory (part 0) or ServiceSubcategory (1) of a product code.

    A map lookup: a CASE with one branch per product code measured 10x slower on 10M rows.

    >>> service_sql("pc", 0).startswith("coalesce(MAP {'AmazonBedrock': 'AI and Machine Learning'")
    True
    """
    pairs = ", ".join(f"{literal(c)}: {literal(v[part])}" for c, v in SERVICE_CATEGORIES.items())
    return f"coalesce(MAP {{{pairs}}}[{product_code}], {literal(OTHER[part])})"
