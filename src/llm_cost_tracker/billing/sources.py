"""The configured providers' billing API clients, with their admin keys read from their files."""

from __future__ import annotations

from typing import Any

from llm_cost_tracker.billing.anthropic import AnthropicBilling
from llm_cost_tracker.billing.model import BillingSource
from llm_cost_tracker.billing.openai import OpenAIBilling
from llm_cost_tracker.config import ProviderBilling


class ReconcileError(Exception):
    """A bill could not be read: the message names the provider, the file or the endpoint."""


def read_admin_key(entry: ProviderBilling) -> str:
    try:
        key = entry.admin_key_file.read_text("utf-8").strip()
    except OSError as exc:
        raise ReconcileError(
            f"{entry.provider}: cannot read admin_key_file {entry.admin_key_file}: {exc.strerror}"
        ) from None
    if not key:
        raise ReconcileError(f"{entry.provider}: admin_key_file {entry.admin_key_file} is empty")
    return key


def open_source(entry: ProviderBilling, **options: Any) -> BillingSource:
    """The provider's billing API client; ``options``: ``AdminApi`` options (transport, timeouts, sleep)."""
    key = read_admin_key(entry)
    if entry.provider == "openai":
        return OpenAIBilling.connect(key, entry.base_url, **options)
    return AnthropicBilling.connect(key, entry.base_url, **options)
