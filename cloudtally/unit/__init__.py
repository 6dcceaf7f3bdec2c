"""Unit economics: business metrics and the cost per unit of them."""
