"""Adapters that deliver a rendered alert group to one provider each (one module per integration)."""
