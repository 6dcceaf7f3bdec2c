"""Questions asked of the lake: grouped totals, movers, and the dimensions they group by."""
