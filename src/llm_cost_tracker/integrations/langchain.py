"""Budget-aware model swaps for LangChain: a chat model that picks its model on every call.

```python
from langchain_openai import ChatOpenAI
from llm_cost_tracker.integrations.langchain import RoutedChatModel
from llm_cost_tracker.routing import ModelRouter, marks

llm = RoutedChatModel(
    router=ModelRouter("/shared/routing.yaml", scope={"project": "checkout"}),
    model="gpt-4o",
    factory=lambda model: ChatOpenAI(model=model, temperature=0),
)
llm.invoke("Where is my order?")   # gpt-4o, or gpt-4o-mini while the checkout budget is exceeded
```

It is a ``BaseChatModel``, so it works in chains, with ``.bind_tools()`` and
with streaming; each resolved model's client is built once and reused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import ConfigDict, Field, PrivateAttr

from llm_cost_tracker.routing import ModelRouter, marks


class RoutedChatModel(BaseChatModel):
    """Delegates every call to ``factory(router.resolve(model, **scope))``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: ModelRouter
    model: str
    factory: Callable[[str], BaseChatModel]
    scope: dict[str, str] = Field(default_factory=dict)
    _models: dict[str, BaseChatModel] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "llm-cost-tracker-routed"

    @property
    def current_model(self) -> str:
        """The model calls go to now."""
        return self.router.resolve(self.model, **self.scope)

    def _delegate(self) -> BaseChatModel:
        return self._model(self.current_model)

    def _model(self, name: str) -> BaseChatModel:
        model = self._models.get(name)
        if model is None:
            model = self._models[name] = self.factory(name)
        return model

    @contextlib.contextmanager
    def _routed(self) -> Iterator[BaseChatModel]:
        """The model for this call; a swapped call is marked (``routing.marks``) while it runs, so the exporter
        counts what the swap saved."""
        target, budget = self.router.route(self.model, **self.scope)
        if target == self.model or not budget:
            yield self._model(target)
            return
        with marks.swapped(self.model, budget):
            yield self._model(target)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._routed() as model:
            return model._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._routed() as model:
            return await model._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._routed() as model:
            yield from model._stream(messages, stop=stop, run_manager=run_manager, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        with self._routed() as model:
            async for chunk in model._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
                yield chunk

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools bound to whichever model is current at each call."""

        def call(value: LanguageModelInput, config: RunnableConfig | None = None) -> AIMessage:
            bound = self._delegate().bind_tools(tools, tool_choice=tool_choice, **kwargs)
            return bound.invoke(value, config)

        async def acall(value: LanguageModelInput, config: RunnableConfig | None = None) -> AIMessage:
            bound = self._delegate().bind_tools(tools, tool_choice=tool_choice, **kwargs)
            return await bound.ainvoke(value, config)

        return RunnableLambda(call, afunc=acall, name="RoutedChatModel.bind_tools")
