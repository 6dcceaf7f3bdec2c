"""The savings tracker: items in the state database, realized savings measured from the data."""
