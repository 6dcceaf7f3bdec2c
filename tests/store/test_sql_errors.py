"""`cloudtally sql` errors say what to do: the command that creates a view not built yet, the
columns close to a misspelt one, how to keep a DECIMAL result in range."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import FOCUS_10, Run


@pytest.fixture
def lake_cli(cli: Callable[..., Run]) -> Callable[..., Run]:
    assert cli("ingest", "--no-progress", FOCUS_10).exit_code == 0
    return cli


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT team, sum(BilledCost) FROM allocated_costs GROUP BY 1",
            "The view allocated_costs does not exist yet: `cloudtally allocate --rules DIR` "
            "creates it. The views now: commitments_cube, costs, costs_cube.",
        ),
        (
            "SELECT * FROM cost",
            "There is no view cost. Did you mean costs? The views: commitments_cube, costs, costs_cube.",
        ),
        (
            "SELECT ServiceNme, sum(BiledCost) FROM costs GROUP BY 1",
            "Column ServiceNme does not exist. Close names: ServiceName, ServiceCategory, "
            'ProviderName. `cloudtally sql "DESCRIBE costs"` lists the columns of a view.',
        ),
        (
            "SELECT sum(billedcst) FROM costs",
            "Column billedcst does not exist. Close names: BilledCost. "
            '`cloudtally sql "DESCRIBE costs"` lists the columns of a view.',
        ),
        (
            "SELECT sum(BilledCost) * 100000000000000000000 FROM costs",
            "SQL failed: a DECIMAL result is out of range (Overflow in multiplication of "
            "DECIMAL(38) (20520226728990000000 * 100000000000000000000)). Costs are "
            "DECIMAL(38,18), exact with up to 20 digits before the point: cast to DOUBLE for an "
            "approximate result (CAST(BilledCost AS DOUBLE)), or to fewer decimals to stay exact "
            "(CAST(BilledCost AS DECIMAL(38,6))).",
        ),
        (
            "SELECT CAST(sum(BilledCost) AS DOUBLE) * 100000000000000000000 FROM costs",
            None,
        ),
    ],
)
def test_sql_errors_say_what_to_do(
    lake_cli: Callable[..., Run], query: str, message: str | None
) -> None:
    result = lake_cli("sql", query)
    if message is None:  # the advice works
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "2.052022672899e+21"
        return
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.replace("\n", " ").strip() == f"Error: {message}"
