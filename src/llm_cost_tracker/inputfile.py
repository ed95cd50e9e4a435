"""Strict, versioned input files: YAML → validated model, every problem at once.

Config, price overrides and budgets all load through here, so they report
problems the same way: one line per problem with the file, the line, the key
path and the bad value, and the loader raises once with all of them.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

M = TypeVar("M", bound=pydantic.BaseModel)

MAX_FILE_BYTES = 4 * 1024 * 1024


class InputFileError(Exception):
    """An input file is unusable; ``problems`` holds one message per problem."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"invalid {path}:\n" + "\n".join(f"  {p}" for p in self.problems))


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # ``<<: *anchor``: the keys written beside it override the merged ones
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, path: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree (for line numbers); raises ``InputFileError``."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputFileError(path, [f"{where}: not valid YAML: {problem}"]) from None
    return data, node


def _line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int | None:
    """The 1-based line of the value at ``loc`` in the YAML node tree, if it can be found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                match_key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
                return match_key.start_mark.line + 1 if match_key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def format_loc(loc: Iterable[int | str]) -> str:
    """``("budgets", 0, "amount_usd")`` → ``budgets[0].amount_usd``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validation_problems(
    exc: pydantic.ValidationError, path: str, node: yaml.Node | None, model: type[pydantic.BaseModel] | None = None
) -> list[str]:
    """One line per problem, in the order of the file: ``FILE:LINE: key.path: message (got value)``."""
    problems: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
        line = _line_of(node, loc)
        where = f"{path}:{line}" if line is not None else path
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            known = _keys_at(model, loc[:-1]) if model is not None and loc else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6) if known else []
            if close:
                message += f" (did you mean {close[0]}?)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            message = "expected a mapping"  # not pydantic's "...or instance of LabelConfig"
        value = error.get("input")
        shown = "" if error["type"] == "missing" or isinstance(value, dict) else f" (got {_short(value)})"
        problems.append((line if line is not None else 1 << 30, f"{where}: {format_loc(loc)}: {message}{shown}"))
    return [text for _, text in sorted(problems, key=lambda item: item[0])]


def _keys_at(model: type[pydantic.BaseModel], loc: Iterable[int | str]) -> list[str]:
    """The keys the model accepts at ``loc`` (a mapping's location in the file), for "did you mean"."""
    current: Any = model
    for part in loc:
        current = _model_in(current)
        if current is None:
            return []
        if isinstance(part, int):
            continue
        field = next(
            (f for name, f in current.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if field is None:
            return []
        current = field.annotation
    current = _model_in(current)
    if current is None:
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model class an annotation holds: itself, or inside ``Optional``, ``list``, ``dict`` or ``Annotated``."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def load_model(path: str | Path, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Read and validate one input file; raises ``InputFileError`` with every problem."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(name, [f"{name}: cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputFileError(name, [f"{name}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(name, [f"{name}: not UTF-8 text"]) from None
    return parse_model(text, name, model, context=context)


def parse_model(text: str, path: str, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    data, node = parse_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputFileError(path, [f"{path}:1: (top level): expected a mapping (got {type(data).__name__})"])
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        raise InputFileError(path, validation_problems(exc, path, node, model)) from None
