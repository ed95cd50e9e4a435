"""What the providers billed: clients of OpenAI's and Anthropic's cost and usage admin APIs (docs/reconcile.md)."""
