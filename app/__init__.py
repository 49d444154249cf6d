"""alertmedic: an Alertmanager webhook receiver that routes, enriches and heals."""

__version__ = "0.1.0"
