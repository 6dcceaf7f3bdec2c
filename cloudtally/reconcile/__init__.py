"""Month-end close: invoice reconciliation."""
