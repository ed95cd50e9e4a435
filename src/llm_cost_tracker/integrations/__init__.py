"""Model routing inside apps: LiteLLM (SDK and proxy) and LangChain. Optional extras:
``pip install 'llm-cost-tracker[litellm]'`` or ``'llm-cost-tracker[langchain]'``."""
