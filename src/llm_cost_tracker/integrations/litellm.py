"""Budget-aware model swaps for LiteLLM.

**SDK** (``litellm.completion`` and friends): wrap the calls, or patch the module once::

    from llm_cost_tracker.routing import ModelRouter, marks
    from llm_cost_tracker.integrations import litellm as routed

    router = ModelRouter("/shared/routing.yaml", scope={"project": "checkout"})
    routed.patch(router)                  # litellm.completion(model="gpt-4o", ...) now obeys the swaps
    # or, without patching: routed.completion(router, model="gpt-4o", messages=...)

**Proxy**: a ``CustomLogger`` whose ``async_pre_call_hook`` rewrites ``model``. In the proxy's
``config.yaml``::

    litellm_settings:
      callbacks: llm_cost_tracker.integrations.litellm.proxy_handler

with ``LLM_COST_TRACKER_ROUTING_FILE`` (and optionally ``LLM_COST_TRACKER_SCOPE=project=checkout``)
in its environment. The scope can also come from the key's team: ``BudgetRouter(router,
team_as="project")`` routes a team ``checkout`` as ``project=checkout``.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger

from llm_cost_tracker.routing import ModelRouter, marks

_PATCHED = ("completion", "acompletion", "embedding", "aembedding", "text_completion", "atext_completion")


def route(function: Callable[..., Any], router: ModelRouter, **scope: str) -> Callable[..., Any]:
    """``function`` (``litellm.completion`` and the like) with ``model=`` resolved through ``router`` first."""
    if getattr(function, "__llm_cost_tracker_router__", None) is not None:
        function = function.__wrapped__  # type: ignore[attr-defined]

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], str) and "model" not in kwargs:
            kwargs["model"], args = args[0], args[1:]
        model = kwargs.get("model")
        if not isinstance(model, str):
            return function(*args, **kwargs)
        target, budget = router.route(model, **scope)
        kwargs["model"] = target
        if target == model or not budget:
            return function(*args, **kwargs)
        # A swapped call is marked, for the exporter to count what it saved: the spans started during the call
        # (LiteLLM's own OpenTelemetry callback's, or an instrumented SDK's) carry routing.marks' attributes.
        with marks.swapped(model, budget):
            result = function(*args, **kwargs)
        if inspect.isawaitable(result):
            return _marked_await(result, model, budget)
        return result

    wrapper.__llm_cost_tracker_router__ = router  # type: ignore[attr-defined]
    return wrapper


async def _marked_await(awaitable: Any, routed_from: str, budget: str) -> Any:
    """An async call's coroutine, run with the swap's marks (its spans start when it is awaited)."""
    with marks.swapped(routed_from, budget):
        return await awaitable


def patch(router: ModelRouter, **scope: str) -> None:
    """Route every ``litellm.completion``/``acompletion``/``embedding``/... call through ``router``."""
    for name in _PATCHED:
        original = getattr(litellm, name, None)
        if original is not None:
            setattr(litellm, name, route(original, router, **scope))


def unpatch() -> None:
    for name in _PATCHED:
        current = getattr(litellm, name, None)
        if getattr(current, "__llm_cost_tracker_router__", None) is not None:
            setattr(litellm, name, current.__wrapped__)  # type: ignore[union-attr]


def completion(router: ModelRouter, /, **kwargs: Any) -> Any:
    """``litellm.completion(**kwargs)`` with the model routed (scope from ``router``)."""
    return route(litellm.completion, router)(**kwargs)


async def acompletion(router: ModelRouter, /, **kwargs: Any) -> Any:
    return await route(litellm.acompletion, router)(**kwargs)


class BudgetRouter(CustomLogger):
    """LiteLLM Proxy hook: rewrites the request's ``model`` before the call."""

    def __init__(self, router: ModelRouter, *, team_as: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.router = router
        self.team_as = team_as

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        model = data.get("model")
        if isinstance(model, str):
            scope: dict[str, str] = {}
            team = getattr(user_api_key_dict, "team_alias", None) or getattr(user_api_key_dict, "team_id", None)
            if self.team_as and isinstance(team, str) and team:
                scope[self.team_as] = team
            data["model"] = self.router.resolve(model, **scope)
        return data


def _router_from_environment() -> ModelRouter:
    scope = dict(item.split("=", 1) for item in os.environ.get("LLM_COST_TRACKER_SCOPE", "").split(",") if "=" in item)
    return ModelRouter(os.environ.get("LLM_COST_TRACKER_ROUTING_FILE", "routing.yaml"), scope=scope)


proxy_handler = BudgetRouter(_router_from_environment(), team_as=os.environ.get("LLM_COST_TRACKER_TEAM_AS") or None)
"""The instance to name in the LiteLLM Proxy's ``litellm_settings.callbacks``."""
