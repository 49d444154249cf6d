"""Enrichment adapters: Loki log lines and Prometheus graphs added to a notification."""
