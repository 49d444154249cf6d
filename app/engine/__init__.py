"""The machinery between the web and the adapters: ingest into the outbox, dispatch out of it."""
