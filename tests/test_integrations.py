"""The router inside real LiteLLM and LangChain apps: the request that leaves the app names the swapped model.

Only the provider's HTTP API is a stand-in (tests/fake_provider.py): the SDKs, their
HTTP clients and LiteLLM's and LangChain's own code run for real.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of LiteLLM's price map

import litellm
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from litellm.proxy._types import UserAPIKeyAuth

from llm_cost_tracker.integrations import litellm as routed_litellm
from llm_cost_tracker.integrations.langchain import RoutedChatModel
from llm_cost_tracker.integrations.scope import scope_from_resource
from llm_cost_tracker.routing import ModelRouter
from llm_cost_tracker.routing.document import Override
from llm_cost_tracker.routing.store import RoutingStore
from tests.fake_provider import FakeProvider

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
def routing(tmp_path: Path) -> RoutingStore:
    return RoutingStore(tmp_path / "routing.yaml")


def swap(store: RoutingStore, *, project: str = "checkout", to: str = "gpt-4o-mini") -> None:
    override = Override(from_="gpt-4o", to=to, scope={"project": project}, budget="b", fingerprint="f")
    store.update(lambda d: d.with_overrides((override,), d.resolved))
    time.sleep(0.01)  # longer than the router's check interval


def unswap(store: RoutingStore) -> None:
    store.update(lambda d: d.with_overrides((), d.resolved))
    time.sleep(0.01)


def test_litellm_sdk_patched(provider: FakeProvider, routing: RoutingStore) -> None:
    router = ModelRouter(routing.path, scope={"project": "checkout"})
    routed_litellm.patch(router)
    try:
        kwargs = {"messages": MESSAGES, "api_base": provider.url, "api_key": "sk-test"}
        litellm.completion(model="gpt-4o", **kwargs)
        swap(routing)
        response = litellm.completion(model="gpt-4o", **kwargs)
        litellm.completion("gpt-4o", **kwargs)  # model given positionally
        unswap(routing)
        litellm.completion(model="gpt-4o", **kwargs)
    finally:
        routed_litellm.unpatch()
    assert provider.models == ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert response.choices[0].message.content == "answered by gpt-4o-mini"
    assert not hasattr(litellm.completion, "__llm_cost_tracker_router__")


def test_litellm_sdk_async_and_embeddings(provider: FakeProvider, routing: RoutingStore) -> None:
    router = ModelRouter(routing.path, scope={"project": "checkout"})
    swap(routing)

    async def calls() -> None:
        await routed_litellm.acompletion(router, model="gpt-4o", messages=MESSAGES, api_base=provider.url, api_key="k")

    asyncio.run(calls())
    routed_litellm.route(litellm.embedding, router)(
        model="text-embedding-3-small", input=["a"], api_base=provider.url, api_key="k"
    )
    assert provider.models == ["gpt-4o-mini", "text-embedding-3-small"]


def test_litellm_proxy_pre_call_hook(routing: RoutingStore) -> None:
    """The hook the LiteLLM Proxy runs before each call, with the proxy's own request types."""
    hook = routed_litellm.BudgetRouter(ModelRouter(routing.path), team_as="project")
    swap(routing)
    team_key = UserAPIKeyAuth(api_key="sk-hashed", team_id="t-1", team_alias="checkout")
    other_key = UserAPIKeyAuth(api_key="sk-hashed", team_id="t-2", team_alias="search")

    async def run(key: UserAPIKeyAuth) -> object:
        data = {"model": "gpt-4o", "messages": MESSAGES}
        result = await hook.async_pre_call_hook(key, litellm.DualCache(), data, "completion")
        assert isinstance(result, dict)
        return result["model"]

    assert asyncio.run(run(team_key)) == "gpt-4o-mini"
    assert asyncio.run(run(other_key)) == "gpt-4o"


def test_langchain_routed_chat_model(provider: FakeProvider, routing: RoutingStore) -> None:
    llm = RoutedChatModel(
        router=ModelRouter(routing.path),
        model="gpt-4o",
        scope={"project": "checkout"},
        factory=lambda model: ChatOpenAI(model=model, base_url=provider.url, api_key="sk-test"),  # type: ignore[arg-type]
    )
    assert llm.invoke("hi").content == "answered by gpt-4o"
    swap(routing)
    assert llm.current_model == "gpt-4o-mini"
    assert llm.invoke("hi").content == "answered by gpt-4o-mini"
    chunks = list(llm.stream("hi"))
    assert "".join(str(c.content) for c in chunks) == "ok"
    assert asyncio.run(llm.ainvoke("hi")).content == "answered by gpt-4o-mini"

    @tool
    def order_status(order_id: str) -> str:
        """Look an order up."""
        return "shipped"

    llm.bind_tools([order_status]).invoke("status of #4711?")
    unswap(routing)
    llm.invoke("hi")
    assert provider.models == ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert provider.requests[4]["tools"][0]["function"]["name"] == "order_status"


def test_scope_from_the_otel_resource() -> None:
    environ = {
        "OTEL_SERVICE_NAME": "checkout-assistant",
        "OTEL_RESOURCE_ATTRIBUTES": "tenant.org=acme,tenant.project=checkout",
    }
    assert scope_from_resource(environ=environ) == {"project": "checkout-assistant"}
    assert scope_from_resource(project="tenant.project", org="tenant.org", environ=environ) == {
        "project": "checkout",
        "org": "acme",
    }
