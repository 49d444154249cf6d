"""`make bench`: ingest throughput against a bare handler, delivery latency, memory."""
