"""The local monitoring stack behind `make demo`: a demo model API, Prometheus, Alertmanager,
alertmedic and an SMTP server that prints what it receives, all on 127.0.0.1 (see README.md)."""
