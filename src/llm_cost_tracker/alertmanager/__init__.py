"""The Alertmanager webhook receiver that swaps models while a budget is exceeded."""
