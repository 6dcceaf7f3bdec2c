"""Tag governance: coverage by cost, policy exceptions, Terraform plan checks."""
