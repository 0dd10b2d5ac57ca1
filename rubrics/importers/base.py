"""Shared pieces of the importers: located records, field errors, ids and small value checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rubrics.schema import LLMVerifier, RubricItem, RuleVerifier, stable_id, validation_error_field


class FieldError(ValueError):
    """A record is unusable because of one field (dotted path, e.g. ``rubric[2].description``)."""

    def __init__(self, field: str | None, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True)
class Record:
    """One raw input record and where it came from (``line`` is the 1-based line or row number)."""

    path: str | None
    line: int | None
    data: Any


@dataclass(frozen=True)
class ReadError:
    """A record that could not even be read (bad bytes, malformed JSON): reported, never converted."""

    path: str | None
    line: int | None
    field: str | None
    reason: str


@dataclass
class Context:
    """What a converter knows besides the record: the source name (item-id prefix) and options
    (``columns``: the generic importer's column mapping; ``pitfall_polarity``: see
    :mod:`rubrics.importers.polarity`)."""

    source: str
    columns: Mapping[str, str] = field(default_factory=dict)
    pitfall_polarity: str = "auto"


Converter = Callable[[Mapping[str, Any], Context], RubricItem]


def item_id(source: str, original: Any, *content: Any) -> str:
    """``"{source}:{original id}"`` (kept as is when already prefixed, e.g. re-imported exports), or
    ``"{source}:{content hash}"`` when the source has no id."""
    if original is None or (isinstance(original, str) and not original.strip()):
        return f"{source}:{stable_id(*content)}"
    original = str(original)
    return original if original.startswith(f"{source}:") else f"{source}:{original}"


def rubric_id(item: str, index: int) -> str:
    return f"{item}#{index}"


def require(rec: Mapping[str, Any], key: str, kind: type | tuple[type, ...] | None = None) -> Any:
    if key not in rec or rec[key] is None:
        raise FieldError(key, "missing")
    value = rec[key]
    if kind is not None and not isinstance(value, kind):
        raise FieldError(key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def get_path(rec: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``reward_model.rubrics``); a key containing a dot wins over the path.
    Raises ``KeyError`` naming the first missing part."""
    if path in rec:
        return rec[path]
    value: Any = rec
    parts = path.split(".")
    for n, part in enumerate(parts):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(".".join(parts[: n + 1]))
        value = value[part]
    return value


def has_path(rec: Mapping[str, Any], path: str) -> bool:
    try:
        return get_path(rec, path) is not None
    except KeyError:
        return False


def first_present(rec: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first key of ``keys`` whose value is present and not null."""
    return next((k for k in keys if rec.get(k) is not None), None)


def as_list(value: Any, name: str) -> list[Any]:
    """A list from a list / tuple / numpy array / JSON string of a list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldError(name, f"not a JSON list ({exc.msg})") from None
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        hint = ""
        if isinstance(value, Mapping):
            lists = [k for k, v in value.items() if isinstance(v, (list, tuple)) or hasattr(v, "tolist")]
            tip = f"; point at a list with a dotted path, e.g. {name}.{lists[0]})" if lists else ")"
            hint = f" (keys {sorted(value)[:8]}" + tip
        raise FieldError(name, f"expected a list, got {type(value).__name__}{hint}")
    return list(value)


def as_messages(value: Any, name: str) -> list[dict[str, str]]:
    """Chat messages ``[{role, content}]`` (``from``/``value`` ShareGPT keys are accepted too)."""
    out = []
    for i, msg in enumerate(as_list(value, name)):
        if not isinstance(msg, Mapping):
            raise FieldError(f"{name}[{i}]", f"expected an object, got {type(msg).__name__}")
        role = msg.get("role", msg.get("from"))
        content = msg.get("content", msg.get("value"))
        role = {"human": "user", "gpt": "assistant"}.get(role, role)
        if role not in ("system", "user", "assistant", "tool"):
            raise FieldError(f"{name}[{i}].role", f"expected system/user/assistant/tool, got {role!r}")
        if not isinstance(content, str):
            raise FieldError(f"{name}[{i}].content", "missing or not a string")
        out.append({"role": role, "content": content})
    if not out:
        raise FieldError(name, "empty conversation")
    return out


def as_weight(value: Any, name: str) -> float:
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise FieldError(name, f"expected a number, got {value!r}") from None
    return float(value)


def prompt_or_messages(rec: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The instruction of a row: its chat ``messages`` if present, else a string ``prompt``."""
    if rec.get("messages") is not None:
        return None, as_messages(rec["messages"], "messages")
    if isinstance(rec.get("prompt"), str):
        return rec["prompt"], None
    raise FieldError("messages", "missing (no 'messages' or 'prompt')")


def make_item(**fields: Any) -> RubricItem:
    """Build a :class:`RubricItem`, turning pydantic errors into a :class:`FieldError` on the first bad field."""
    try:
        return RubricItem(**fields)
    except ValidationError as exc:
        raise field_error_from(exc) from None


def field_error_from(exc: ValidationError) -> FieldError:
    return FieldError(*validation_error_field(exc))


def llm() -> LLMVerifier:
    return LLMVerifier()


def rule(family: str, rule_id: str, kwargs: Mapping[str, Any] | None = None) -> RuleVerifier:
    return RuleVerifier(family=family, rule_id=rule_id, kwargs=dict(kwargs or {}))


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "a string", "list": "a list", "dict": "an object", "int": "an integer"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)
