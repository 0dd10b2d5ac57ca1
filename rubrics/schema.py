"""Typed rubric dataset schema: an instruction item with its rubrics (constraints).

Every importer produces :class:`RubricItem`; every stage downstream consumes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Family = Literal["ifeval", "ifbench", "muldimif", "tulu", "custom"]


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first NaN / infinite float inside ``value`` (dicts, lists, tuples), else None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            found = non_finite_path(v, f"{path}.{k}" if path else str(k))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = non_finite_path(v, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _finite_values(value: dict[str, Any]) -> dict[str, Any]:
    found = non_finite_path(value)
    if found is not None:
        raise ValueError(f"{found}: must be a finite number, got {_value_at(value, found)!r}")
    return value


def _value_at(value: Any, path: str) -> Any:
    for part in path.replace("[", ".[").split("."):
        if part:
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


# Every number of the canonical schema is finite: JSON has no NaN / Infinity (Python's json reads and writes
# them, pydantic writes them as null), so a non-finite weight would give a dataset nobody can read back.
FiniteFloat = Annotated[float, AfterValidator(_finite)]
FiniteValues = Annotated[dict[str, Any], AfterValidator(_finite_values)]


class RuleVerifier(BaseModel):
    """A programmatic checker: ``family`` picks the registry, ``rule_id`` the checker, ``kwargs`` its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rule"] = "rule"
    family: Family
    rule_id: str = Field(min_length=1)
    kwargs: FiniteValues = Field(default_factory=dict, description="The checker's arguments (numbers finite).")


class LLMVerifier(BaseModel):
    """Judged by an LLM (YES/NO per criterion) through an OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["llm"] = "llm"


Verifier = Annotated[RuleVerifier | LLMVerifier, Field(discriminator="kind")]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class Rubric(BaseModel):
    """One criterion. ``weight < 0`` marks a pitfall (satisfying it is bad)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    title: str | None = None
    weight: FiniteFloat = Field(1.0, description="Finite; < 0 marks a pitfall.")
    verifier: Verifier = Field(default_factory=LLMVerifier)
    source: str | None = None

    @property
    def is_rule(self) -> bool:
        return isinstance(self.verifier, RuleVerifier)


class RubricItem(BaseModel):
    """An instruction (``prompt`` and/or chat ``messages``) with its rubrics."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    prompt: str | None = None
    messages: list[Message] | None = None
    rubrics: list[Rubric] = Field(min_length=1)
    source: str = "custom"
    split: Literal["train", "val", "test"] | None = None
    meta: FiniteValues = Field(default_factory=dict, description="Source fields kept as is (numbers finite).")

    @model_validator(mode="after")
    def _check(self) -> RubricItem:
        if not (self.prompt and self.prompt.strip()) and not self.messages:
            raise ValueError("item needs a non-empty 'prompt' or 'messages'")
        ids = [r.id for r in self.rubrics]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate rubric ids: {dup}")
        return self

    @property
    def instruction(self) -> str:
        """The user-facing instruction text (last user message when only ``messages`` is given)."""
        if self.prompt:
            return self.prompt
        users = [m.content for m in self.messages or [] if m.role == "user"]
        return users[-1] if users else self.messages[-1].content  # type: ignore[index]

    def chat(self) -> list[dict[str, str]]:
        """The instruction as chat messages (what a policy or an LLM is sent)."""
        if self.messages:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    def content_hash(self) -> str:
        """Hash of the instruction and rubric contents (ids and split excluded): used for dedupe."""
        payload = {
            "instruction": [m["content"] for m in self.chat()],
            "rubrics": sorted(
                json.dumps([r.text, r.weight, r.verifier.model_dump()], sort_keys=True) for r in self.rubrics
            ),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def validation_error_field(exc: Any) -> tuple[str | None, str]:
    """The dotted field (``rubrics[2].weight``) and message of a pydantic ``ValidationError``'s first error."""
    err = exc.errors()[0]
    parts = [
        p for i, p in enumerate(err["loc"]) if not (i and err["loc"][i - 1] == "verifier" and p in ("rule", "llm"))
    ]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    msg = str(err["msg"]).removeprefix("Value error, ")
    inner, sep, rest = msg.partition(": must be a finite number")
    if sep and loc and " " not in inner:  # a non-finite number inside kwargs / meta: name its key
        loc, msg = f"{loc}{'' if inner.startswith('[') else '.'}{inner}", "must be a finite number" + rest
    return loc or None, msg


def stable_id(*parts: object) -> str:
    """A short deterministic id from any JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
