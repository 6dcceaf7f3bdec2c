"""Allocation: rules applied to the lake as set-based SQL, published as `allocated_costs`."""
