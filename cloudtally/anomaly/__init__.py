"""Cost anomalies: causal detection over daily series, root cause, durable state with
feedback, routing to owners, and `explain` for investigating a change.

Modules follow the data's path: `series` (SQL into a matrix) -> `detector` (scoring) ->
`rootcause` -> `state` (state.duckdb) -> `notify`; `run` ties one detection run together,
`config` holds the monitors file models, `command` the CLI, `explain` the investigation.
"""
