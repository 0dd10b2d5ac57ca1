"""Sample K responses per prompt from the policy: real text to build discriminator pairs from.

``--positives-from MODEL`` of ``rtt data negatives``. The sampler is a local Hugging Face causal LM
(``smollm2`` = the offline SmolLM2-135M-Instruct, or any model folder / hub id) or an OpenAI-compatible endpoint
(``base_url`` set). Samples go to an append-only JSONL (one line per item, written only once all K samples of the
item exist), so an interrupted run resumes where it stopped and never records a failed request.

Each line records the settings that determine its samples (:data:`SAMPLE_SETTINGS`: model, endpoint, K, length,
temperature, top-p, seed). A resumed run reuses only lines sampled with the current settings: a line sampled
otherwise is an error naming file, line, item and the differing fields, unless ``resample`` is set (then such lines
are discarded and their items sampled again). Lines written before settings were recorded are reused with one
warning saying their settings are unknown.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rubrics.schema import RubricItem

OFFLINE_SMOLLM2 = "smollm2"
SAMPLE_SETTINGS = ("model", "base_url", "k", "max_new_tokens", "temperature", "top_p", "seed")
"""The :class:`PolicySampleConfig` fields that determine the samples (not batch size, threads or concurrency)."""


class PolicySamplesWarning(UserWarning):
    """Samples reused whose settings are unknown (lines written before settings were recorded)."""


class SampleSettingsError(ValueError):
    """A resumed samples file holds samples taken with other settings than the current ones."""


class PolicySampleConfig(BaseModel):
    """Which policy to sample and how (shared by the CLI, the flow and the pipeline config)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(OFFLINE_SMOLLM2, description="'smollm2' (offline SmolLM2-135M-Instruct), an HF model folder "
                                                    "or hub id, or the model name at --policy-base-url")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (…/v1); unset: a local HF model")
    k: int = Field(4, ge=1, description="responses sampled per prompt")
    max_new_tokens: int = Field(192, ge=1, description="tokens per sampled response")
    temperature: float = Field(0.8, ge=0, description="sampling temperature (0: greedy, then K=1 is enough)")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling: keep the smallest token set of this total "
                         "probability.")
    batch_size: int = Field(16, ge=1, description="sequences per local generate call (prompts x K)")
    max_concurrency: int = Field(8, ge=1, description="requests in flight to the endpoint")
    seed: int = Field(0, description="Sampling seed (an endpoint gets seed..seed+K-1, one per sample).")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (unset: torch's default)")
    max_retries: int = Field(5, ge=0, description="Retries of a failed endpoint request (with back-off); "
                             "rtt data negatives --llm-retries.")
    resample: bool = Field(False, description="Discard samples in the samples file that were taken with other "
                           "settings (model, endpoint, K, length, temperature, top-p, seed) and sample those items "
                           "again; off: such samples are an error.")

    def settings(self) -> dict[str, Any]:
        """What determines the samples (recorded in every line of the samples file)."""
        return {name: getattr(self, name) for name in SAMPLE_SETTINGS}


def _differences(recorded: Any, current: dict[str, Any]) -> list[str]:
    if not isinstance(recorded, dict):
        return [f"settings={recorded!r} (not an object)"]
    return [f"{k}: sampled with {recorded.get(k)!r}, now {current[k]!r}" for k in SAMPLE_SETTINGS
            if recorded.get(k) != current[k]]


def _read_done(path: Path, config: PolicySampleConfig,
               warn: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """Items already sampled with ``config``'s settings; a torn last line (a killed run) is cut off, a damaged
    middle line is an error naming file:line (the same rules as the build's shards,
    :mod:`discriminator.data.shards`). A line sampled with other settings raises :class:`SampleSettingsError`, or,
    with ``config.resample``, is dropped from the file (rewritten atomically) so its item is sampled again."""
    from discriminator.data.shards import _read_lines
    from rubrics.io import truncate_torn_tail

    out: dict[str, list[str]] = {}
    if not path.exists():
        return out
    truncate_torn_tail(path)
    current = config.settings()
    legacy: list[int] = []
    stale: list[tuple[int, str, list[str]]] = []
    kept: list[dict] = []
    for lineno, obj in _read_lines(path):
        item_id = str(obj.get("item_id"))
        if "settings" not in obj:
            legacy.append(lineno)
        else:
            diff = _differences(obj["settings"], current)
            if diff:
                stale.append((lineno, item_id, diff))
                continue
        out[item_id] = [str(r) for r in obj["responses"]]
        kept.append(obj)
    if stale and not config.resample:
        lineno, item_id, diff = stale[0]
        more = f" ({len(stale)} lines in all)" if len(stale) > 1 else ""
        raise SampleSettingsError(
            f"{path}:{lineno}: item {item_id} was sampled with other settings{more}: {'; '.join(diff)}. Use "
            "another output folder (--out) to keep both, or resample (rtt data negatives --resample; resample: true "
            "in a flow or pipeline config) to discard these samples and sample their items again")
    if stale:  # resample: keep only the reusable lines, atomically
        import json

        from rubrics.io import atomic_open

        with atomic_open(path) as fh:
            fh.writelines(json.dumps(obj, ensure_ascii=False) + "\n" for obj in kept)
    if legacy:
        msg = (f"{path}: {len(legacy)} samples (lines {_line_list(legacy)}) were written without their sampling "
               "settings, which are unknown: they are reused as they are (delete the file or use another --out to "
               "sample them again with the current settings)")
        (warn or (lambda m: warnings.warn(m, PolicySamplesWarning, stacklevel=4)))(msg)
    return out


def _line_list(lines: list[int]) -> str:
    """``1-3, 7`` for [1, 2, 3, 7]."""
    runs: list[list[int]] = []
    for n in lines:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _append(path: Path, item_id: str, responses: list[str], model: str, settings: dict[str, Any]) -> None:
    """One whole line per item, appended and fsynced only after all its samples exist."""
    import json

    from rubrics.io import fsync_append

    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"item_id": item_id, "model": model, "settings": settings, "responses": responses},
                      ensure_ascii=False)
    fsync_append(path, line.encode() + b"\n")


def sample_policy(items: Sequence[RubricItem], config: PolicySampleConfig, out_path: str | os.PathLike, *,
                  progress: Callable[[int, int], None] | None = None, sampler: Any = None,
                  warn: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """``{item_id: [K responses]}`` for ``items``; samples already in ``out_path`` taken with the same settings are
    reused (resume; see the module doc for other settings). ``warn`` receives the warning about samples of unknown
    settings (default: :class:`PolicySamplesWarning`)."""
    path = Path(out_path)
    done = _read_done(path, config, warn)
    todo = [it for it in items if it.id not in done]
    if todo:
        sampler = sampler or make_sampler(config)
        name = getattr(sampler, "name", config.model)
        count = len(items) - len(todo)

        def emit(item: RubricItem, responses: list[str]) -> None:
            nonlocal count
            _append(path, item.id, responses, name, config.settings())
            done[item.id] = responses
            count += 1
            if progress:
                progress(count, len(items))

        sampler.sample(todo, config, emit)
    return {it.id: done[it.id] for it in items if it.id in done}


def make_sampler(config: PolicySampleConfig) -> Any:
    if config.base_url:
        return EndpointSampler(config)
    return LocalSampler(config.model, threads=config.threads)


class LocalSampler:
    """Batched sampling with a transformers causal LM: ``num_return_sequences=K`` per prompt."""

    def __init__(self, model: Any = OFFLINE_SMOLLM2, tokenizer: Any = None, *, threads: int | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        if isinstance(model, (str, os.PathLike)):
            path = str(model)
            if path == OFFLINE_SMOLLM2:
                from rubrics.offline_models import smollm2_dir

                path = str(smollm2_dir())
            self.name = str(model)
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path)
        else:
            self.name = getattr(model.config, "_name_or_path", type(model).__name__)
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer")
        self.model, self.tokenizer = model.eval(), tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def sample(self, items: Sequence[RubricItem], config: PolicySampleConfig,
               emit: Callable[[RubricItem, list[str]], None]) -> None:
        import torch

        tok = self.tokenizer
        texts = [tok.apply_chat_template(it.chat(), tokenize=False, add_generation_prompt=True) for it in items]
        order = sorted(range(len(items)), key=lambda i: len(texts[i]), reverse=True)  # similar lengths together
        per_call = max(1, config.batch_size // config.k)
        side, tok.padding_side = tok.padding_side, "left"
        device = next(self.model.parameters()).device
        sample = config.temperature > 0
        try:
            for start in range(0, len(order), per_call):
                idx = order[start:start + per_call]
                torch.manual_seed(config.seed + start)
                enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True,
                          add_special_tokens=False).to(device)
                with torch.inference_mode():
                    gen = self.model.generate(
                        **enc, max_new_tokens=config.max_new_tokens, do_sample=sample,
                        temperature=config.temperature if sample else None, top_p=config.top_p if sample else None,
                        top_k=None, num_return_sequences=config.k, pad_token_id=tok.pad_token_id)
                decoded = tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
                for j, i in enumerate(idx):
                    emit(items[i], [d.strip() for d in decoded[j * config.k:(j + 1) * config.k]])
        finally:
            tok.padding_side = side


class EndpointSampler:
    """K chat completions per prompt from an OpenAI-compatible endpoint (seeds ``seed .. seed+K-1``)."""

    def __init__(self, config: PolicySampleConfig):
        self.name = config.model

    def sample(self, items: Sequence[RubricItem], config: PolicySampleConfig,
               emit: Callable[[RubricItem, list[str]], None]) -> None:
        import asyncio

        from rubrics.llm import LLMClient, LLMConfig

        llm = LLMConfig(base_url=str(config.base_url), model=config.model, max_concurrency=config.max_concurrency,
                        max_retries=config.max_retries)

        async def go() -> None:
            async with LLMClient(llm) as client:
                async def one(item: RubricItem) -> None:
                    outs = await asyncio.gather(*(
                        client.chat(item.chat(), temperature=config.temperature, top_p=config.top_p,
                                    max_tokens=config.max_new_tokens, seed=config.seed + k)
                        for k in range(config.k)), return_exceptions=True)
                    failed = [o for o in outs if isinstance(o, BaseException)]
                    if failed:  # nothing recorded: a re-run asks again
                        raise RuntimeError(f"item {item.id}: {len(failed)} of {config.k} samples failed: {failed[0]}")
                    emit(item, [str(o).strip() for o in outs])

                results = await asyncio.gather(*(one(it) for it in items), return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    raise RuntimeError(f"{len(errors)} of {len(items)} items could not be sampled; first: {errors[0]}")

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no event loop in this thread
            asyncio.run(go())
            return
        # called from inside an event loop (the async Prefect flow, a notebook): a fresh loop in a worker thread
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, go()).result()
