"""Cost for observability tools: OpenMetrics for Prometheus and Grafana."""
