"""Budgets as code: a budget YAML → Prometheus recording and alerting rules."""
