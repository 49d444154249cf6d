"""Pure core: models, matchers, routing, dedup, rendering, retry policy. No I/O here."""
