"""HTTP face of the service: the Alertmanager webhook, health and metrics endpoints."""
