"""Tests of the billing-format converters, one module per provider."""

from cloudtally.ingest.formats import Converter

# Whether `cloudtally.ingest.formats` registers the AWS converters itself. Until it does, the AWS
# tests register them only while they run (see test_aws_cur.py), so that the other tests' list
# of known formats does not depend on which tests were collected.
AWS_WIRED = "aws-cur" in Converter.registry
