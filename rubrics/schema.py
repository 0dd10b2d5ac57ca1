"""Typed rubric dataset schema: an instruction item with its rubrics (constraints).

Every importer produces :class:`RubricItem`; every stage downstream consumes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Family = Literal["ifeval", "ifbench", "muldimif", "tulu", "custom"]


class RuleVerifier(BaseModel):
    """A programmatic checker: ``family`` picks the registry, ``rule_id`` the checker, ``kwargs`` its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rule"] = "rule"
    family: Family
    rule_id: str = Field(min_length=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)


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
    weight: float = 1.0
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
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "RubricItem":
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


def stable_id(*parts: object) -> str:
    """A short deterministic id from any JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
