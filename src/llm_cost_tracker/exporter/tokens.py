"""Token counts as sources report them → the conventions' counting → non-overlapping token types.

The *reported* tuple counts as the GenAI conventions do (cache inside the input total, reasoning inside
the output total); it is split once into ``input`` (uncached), ``cache_read``, ``cache_write``,
``output`` (without reasoning) and ``reasoning``. Duplicate spans of one call merge on the reported
tuple, never on split parts.
"""

from __future__ import annotations

import math
from typing import Final

from llm_cost_tracker.usage import Tokens

MAX_TOKENS_PER_CALL: Final = 10_000_000_000
"""A token count above this is not a real call; the span is rejected."""


class InvalidUsage(ValueError):
    """A token attribute holds something that is not a token count."""


def as_token_count(value: object) -> int:
    """A token count from an attribute value: an int, a whole float or a digit string."""
    if isinstance(value, bool):
        raise InvalidUsage
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidUsage
        count = int(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        count = int(value)
    else:
        raise InvalidUsage
    if count < 0 or count > MAX_TOKENS_PER_CALL:
        raise InvalidUsage
    return count


def count_or_none(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_TOKENS_PER_CALL:
        return value
    return as_token_count(value)


def reported_usage(
    input_total: int, cache_read: int, cache_write: int, output_total: int, reasoning: int, *, cache_in_input: bool
) -> Tokens:
    """What a source reported, as the conventions count it: cache inside the input, reasoning inside the output.

    Some sources count the parts apart: a part larger than its total gives that
    away (and so does ``cache_in_input=False``, for sources known to), and then
    the total is taken as the part that is left.
    """
    cached = cache_read + cache_write
    if not cache_in_input or cached > input_total:
        input_total += cached
    if reasoning > output_total:
        output_total += reasoning
    return (input_total, cache_read, cache_write, output_total, reasoning)


def split_reported(reported: Tokens) -> Tokens:
    """The conventions' counts → non-overlapping types (input = uncached input, output = without reasoning).

    >>> split_reported((1250, 1024, 0, 180, 0))
    (226, 1024, 0, 180, 0)
    """
    input_total, cache_read, cache_write, output_total, reasoning = reported
    cached = cache_read + cache_write
    uncached = input_total - cached if cached <= input_total else input_total
    visible = output_total - reasoning if reasoning <= output_total else output_total
    return (uncached, cache_read, cache_write, visible, reasoning)


def split_tokens(
    input_total: int, cache_read: int, cache_write: int, output_total: int, reasoning: int, *, cache_in_input: bool
) -> Tokens:
    """Reported counts → non-overlapping token types; no token counted twice, none lost.

    >>> split_tokens(1250, 1024, 0, 180, 0, cache_in_input=True)
    (226, 1024, 0, 180, 0)
    >>> split_tokens(128, 4096, 2048, 256, 0, cache_in_input=True)  # cache reported apart
    (128, 4096, 2048, 256, 0)
    """
    return split_reported(
        reported_usage(input_total, cache_read, cache_write, output_total, reasoning, cache_in_input=cache_in_input)
    )


def merge_reported(a: Tokens, b: Tokens) -> Tokens:
    """The most complete report of one call from two spans of it: the larger of each reported count."""
    return (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), max(a[4], b[4]))
