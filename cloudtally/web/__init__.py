"""`cloudtally serve`: the dashboard and its JSON API over the same query layer as the CLI."""
