"""Model routing: the routing file, its atomic store, and ``ModelRouter`` for apps."""

from llm_cost_tracker.routing.client import ModelRouter

__all__ = ["ModelRouter"]
