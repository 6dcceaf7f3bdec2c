"""Reports: what commands print after the work is done."""
