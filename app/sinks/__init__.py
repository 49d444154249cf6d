"""Adapters that deliver alert groups to providers, one module per integration."""
