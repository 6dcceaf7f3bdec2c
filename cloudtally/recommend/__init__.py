"""Recommendations mined from the billing data: idle and orphaned resources, previous
generations, gp2 volumes, storage without lifecycle, data transfer, unused commitments."""
