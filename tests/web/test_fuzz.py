"""schemathesis against the OpenAPI document: whatever it sends, the API never answers 500,
and every refusal has the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cloudtally.web.app import create_app
from tests.web.company import RULES, Company

EXAMPLES_PER_OPERATION = 8


@pytest.mark.slow
def test_no_input_makes_the_api_fail(company: Company) -> None:
    app = create_app(company.lake, rules_dir=RULES)
    headers = {"Authorization": f"Bearer {company.tokens['pat']}"}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 14

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            response = case.call(headers=headers, timeout=300)
            assert response.status_code < 500, (case.path, case.query, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"status", "type", "message"}
                assert error["status"] == response.status_code

        call()
