"""LLM Cost Tracker: OTLP GenAI telemetry in, priced Prometheus counters out."""

__version__ = "0.1.0"
