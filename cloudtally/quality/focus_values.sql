-- FOCUS 1.2 value sets the rules in focus_rules.sql test against, as DuckDB macros.
-- Values from the FOCUS 1.2 specification (CC-BY-4.0), as encoded in the FinOps Foundation
-- validator's rule model (focus_validator/rules/model-1.2.0.1.json).

-- The one parent ServiceCategory of a ServiceSubcategory (ServiceSubcategory-C-004-M), or NULL
-- for a value that is not an allowed ServiceSubcategory (ServiceSubcategory-C-003-M).
CREATE OR REPLACE TEMP MACRO focus_service_category_of(subcategory) AS CASE
    WHEN subcategory IN ('AI Platforms', 'Bots', 'Generative AI', 'Machine Learning',
        'Natural Language Processing', 'Other (AI and Machine Learning)')
        THEN 'AI and Machine Learning'
    WHEN subcategory IN ('Analytics Platforms', 'Business Intelligence', 'Data Processing',
        'Search', 'Streaming Analytics', 'Other (Analytics)')
        THEN 'Analytics'
    WHEN subcategory IN ('Productivity and Collaboration', 'Other (Business Applications)')
        THEN 'Business Applications'
    WHEN subcategory IN ('Containers', 'End User Computing', 'Quantum Compute',
        'Serverless Compute', 'Virtual Machines', 'Other (Compute)')
        THEN 'Compute'
    WHEN subcategory IN ('Caching', 'Data Warehouses', 'Ledger Databases', 'NoSQL Databases',
        'Relational Databases', 'Time Series Databases', 'Other (Databases)')
        THEN 'Databases'
    WHEN subcategory IN ('Developer Platforms', 'Continuous Integration and Deployment',
        'Development Environments', 'Source Code Management', 'Quality Assurance',
        'Other (Developer Tools)')
        THEN 'Developer Tools'
    WHEN subcategory IN ('Identity and Access Management', 'Other (Identity)')
        THEN 'Identity'
    WHEN subcategory IN ('API Management', 'Messaging', 'Workflow Orchestration',
        'Other (Integration)')
        THEN 'Integration'
    WHEN subcategory IN ('IoT Analytics', 'IoT Platforms', 'Other (Internet of Things)')
        THEN 'Internet of Things'
    WHEN subcategory IN ('Architecture', 'Compliance', 'Cost Management', 'Data Governance',
        'Disaster Recovery', 'Endpoint Management', 'Observability', 'Support',
        'Other (Management and Governance)')
        THEN 'Management and Governance'
    WHEN subcategory IN ('Content Creation', 'Gaming', 'Media Streaming', 'Mixed Reality',
        'Other (Media)')
        THEN 'Media'
    WHEN subcategory IN ('Data Migration', 'Resource Migration', 'Other (Migration)')
        THEN 'Migration'
    WHEN subcategory IN ('Other (Mobile)')
        THEN 'Mobile'
    WHEN subcategory IN ('Multicloud Integration', 'Other (Multicloud)')
        THEN 'Multicloud'
    WHEN subcategory IN ('Application Networking', 'Content Delivery', 'Network Connectivity',
        'Network Infrastructure', 'Network Routing', 'Network Security', 'Other (Networking)')
        THEN 'Networking'
    WHEN subcategory IN ('Secret Management', 'Security Posture Management',
        'Threat Detection and Response', 'Other (Security)')
        THEN 'Security'
    WHEN subcategory IN ('Backup Storage', 'Block Storage', 'File Storage', 'Object Storage',
        'Storage Platforms', 'Other (Storage)')
        THEN 'Storage'
    WHEN subcategory IN ('Application Platforms', 'Other (Web)')
        THEN 'Web'
    WHEN subcategory IN ('Other (Other)')
        THEN 'Other'
END;

-- Whether a unit follows the FOCUS Unit Format: a count or size ("GB", "API Requests"), a unit
-- over plural time ("GB-Hours"), a rate per singular time ("GB/Hour"), a quantity of units
-- ("1000 Requests") or units per time interval ("Requests/3 Months"). Units are letters and
-- digits, words separated by spaces, as in the validator's FormatUnit check, so compound
-- products such as "Lambda-GB-Seconds" do not conform.
CREATE OR REPLACE TEMP MACRO focus_is_unit(unit) AS regexp_full_match(
    unit,
    '[A-Za-z][A-Za-z0-9]*(\s+[A-Za-z][A-Za-z0-9]*)*'
    || '(-(Years|Months|Days|Hours|Minutes|Seconds)'
    || '|/(Year|Month|Day|Hour|Minute|Second)'
    || '|/[0-9]+ (Years|Months|Days|Hours|Minutes|Seconds))?'
    || '|[0-9]+ [A-Za-z][A-Za-z0-9]*(\s+[A-Za-z][A-Za-z0-9]*)*'
);
