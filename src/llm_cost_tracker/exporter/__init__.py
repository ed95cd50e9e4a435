"""OTLP/HTTP receiver, GenAI normalisation and the priced Prometheus counters."""
