"""Commitment discounts (savings plans, reservations, committed use discounts) read from FOCUS
columns: inventory, utilization, coverage, savings, the expiry ladder, alerts and purchase
scenarios. Every question is one function returning a `cloudtally.results.Result`."""
