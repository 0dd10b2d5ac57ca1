"""Policy evaluation on instruction-following benchmarks (IFEval / IFBench / MulDimIF / any rubric file).

Generate one response per prompt with a local model (transformers, batched greedy decoding by default) or
any OpenAI-compatible endpoint (:class:`rubrics.llm.LLMClient`), check every rubric with the project's
verifiers (:func:`rubrics.verdicts.acompute_verdict_modes`: strict and IFEval-loose in one pass, the LLM judge
asked once for rubrics without a checker) and report

* prompt-level accuracy (every rubric of the prompt followed: the paper's "instruction-level"),
* rubric-level accuracy (the paper's "rubric-level" / constraint-level),

strict and loose, overall and per rubric family; undecided verdicts count as not followed. Outputs: a table,
``report.json`` and ``responses.jsonl`` (one row per prompt: response and per-rubric verdicts).

:class:`PolicyEvalCallback` runs the same evaluation every N training steps on a small subset.
"""

from __future__ import annotations

import functools
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from rubrics.io import write_jsonl, write_text
from rubrics.schema import RubricItem

Progress = Callable[[int, int], None]


class GenerationConfig(BaseModel):
    """How the policy's answers are generated."""

    max_new_tokens: int = Field(1024, ge=1, description="Longest answer, in tokens.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature (0: greedy).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    batch_size: int = Field(8, ge=1, description="Prompts generated together (local model).")
    system_prompt: str | None = Field(None, description="System message before every prompt; empty: none.")
    seed: int = Field(0, description="Sampling seed.")


class PolicyAccuracy(BaseModel):
    prompt_strict: float
    prompt_loose: float
    rubric_strict: float
    rubric_loose: float
    prompts: int
    rubrics: int


class PolicyEvalReport(BaseModel):
    benchmark: str
    model: str
    overall: PolicyAccuracy
    families: dict[str, PolicyAccuracy] = Field(default_factory=dict)
    undecided: int = 0
    methods: dict[str, int] = Field(default_factory=dict)
    generation: GenerationConfig
    seconds_generate: float = 0.0
    seconds_verify: float = 0.0

    def table_rows(self) -> list[list[str]]:
        rows = [["all", *_fmt(self.overall)]]
        rows += [[fam, *_fmt(acc)] for fam, acc in sorted(self.families.items())]
        return rows

    def markdown(self) -> str:
        head = "| subset | prompts | rubrics | prompt strict | prompt loose | rubric strict | rubric loose |"
        sep = "|---|---:|---:|---:|---:|---:|---:|"
        body = ["| " + " | ".join(r) + " |" for r in self.table_rows()]
        return "\n".join([f"**{self.benchmark}** — `{self.model}`", "", head, sep, *body]) + "\n"


TABLE_HEADER = ["subset", "prompts", "rubrics", "prompt strict", "prompt loose", "rubric strict", "rubric loose"]


EvalReport = PolicyEvalReport  # its name before the discriminator's report and this one got distinct names


def _fmt(a: PolicyAccuracy) -> list[str]:
    return [str(a.prompts), str(a.rubrics)] + [
        f"{100 * x:.1f}" for x in (a.prompt_strict, a.prompt_loose, a.rubric_strict, a.rubric_loose)
    ]


# ----------------------------------------------------------------------------------------------- generation


def _chat(item: RubricItem, system_prompt: str | None) -> list[dict[str, str]]:
    chat = item.chat()
    if system_prompt and not any(m["role"] == "system" for m in chat):
        chat = [{"role": "system", "content": system_prompt}, *chat]
    return chat


class LocalGenerator:
    """Batched generation with a transformers causal LM (a folder / hub id, or a loaded model + tokenizer)."""

    def __init__(self, model: Any, tokenizer: Any = None, *, device: str | None = None, dtype: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, (str, os.PathLike)):
            self.name = str(model)
            kw = {"dtype": getattr(torch, dtype)} if dtype and dtype != "auto" else {}
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model))
            model = AutoModelForCausalLM.from_pretrained(str(model), **kw)
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            model = model.to(device)
        else:
            self.name = getattr(model.config, "_name_or_path", type(model).__name__)
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer")
        self.model, self.tokenizer = model, tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate(
        self, items: Sequence[RubricItem], cfg: GenerationConfig, progress: Progress | None = None
    ) -> list[str]:
        import torch

        tok = self.tokenizer
        texts = [
            tok.apply_chat_template(_chat(it, cfg.system_prompt), tokenize=False, add_generation_prompt=True)
            for it in items
        ]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)  # similar lengths together
        out: list[str] = [""] * len(texts)
        was_training = self.model.training
        self.model.eval()
        side = tok.padding_side
        tok.padding_side = "left"
        device = next(self.model.parameters()).device
        try:
            torch.manual_seed(cfg.seed)
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(
                    device
                )
                sample = cfg.temperature > 0
                with torch.inference_mode():
                    gen = self.model.generate(
                        **enc,
                        max_new_tokens=cfg.max_new_tokens,
                        do_sample=sample,
                        temperature=cfg.temperature if sample else None,
                        top_p=cfg.top_p if sample else None,
                        top_k=None,
                        pad_token_id=tok.pad_token_id,
                    )
                new = gen[:, enc["input_ids"].shape[1] :]
                for i, row in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
                    out[i] = row
                if progress:
                    progress(min(start + cfg.batch_size, len(order)), len(order))
        finally:
            tok.padding_side = side
            self.model.train(was_training)
        return out


class EndpointGenerator:
    """Generation through an OpenAI-compatible ``/v1/chat/completions`` endpoint (concurrent, retried)."""

    def __init__(self, config: Any):
        from rubrics.llm import LLMConfig

        self.config = config if isinstance(config, LLMConfig) else LLMConfig(**config)
        self.name = self.config.model

    def generate(
        self, items: Sequence[RubricItem], cfg: GenerationConfig, progress: Progress | None = None
    ) -> list[str]:
        from rubrics.llm import LLMClient
        from rubrics.verdicts import run_sync

        async def go() -> list[str | Exception]:
            async with LLMClient(self.config) as client:
                return await client.chat_many(
                    [_chat(it, cfg.system_prompt) for it in items],
                    progress=progress,
                    max_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature,
                    seed=cfg.seed,
                )

        results = run_sync(go())
        errors = [(i, r) for i, r in enumerate(results) if isinstance(r, Exception)]
        if errors:
            i, exc = errors[0]
            raise RuntimeError(f"{len(errors)} of {len(items)} generations failed; first (item {items[i].id}): {exc}")
        return [str(r) for r in results]


# ----------------------------------------------------------------------------------------------- scoring


def _family(rubric) -> str:
    from grpo.rewards import rubric_family

    fam = rubric_family(rubric)
    return fam.split(":")[0] if fam != "llm" else "llm"


def score_responses(
    items: Sequence[RubricItem],
    responses: Sequence[str],
    *,
    judge: Any = None,
    benchmark: str = "custom",
    model: str = "model",
    generation: GenerationConfig | None = None,
    progress: Progress | None = None,
) -> tuple[PolicyEvalReport, list[dict[str, Any]]]:
    """Strict and loose verdicts of every response on every rubric -> the report and per-prompt rows."""
    from rubrics.verdicts import acompute_verdict_modes, run_sync

    if len(items) != len(responses):
        raise ValueError(f"{len(items)} items but {len(responses)} responses")
    t0 = time.perf_counter()
    modes = run_sync(
        acompute_verdict_modes(list(zip(items, responses)), judge=judge, modes=(False, True), progress=progress)
    )
    strict, loose = modes[False], modes[True]
    fs, fl = strict.followed, loose.followed
    ps, pl = strict.prompt_level(), loose.prompt_level()
    fam_acc: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0], [0, 0], [0, 0]])
    methods: dict[str, int] = defaultdict(int)
    rows = []
    n_rub = sum(len(it.rubrics) for it in items)
    tot = [0, 0]
    for b, (it, resp) in enumerate(zip(items, responses)):
        fams = {_family(r) for r in it.rubrics}
        for fam in fams:  # prompt-level per family: prompts having at least one rubric of that family
            acc = fam_acc[fam]
            acc[0][0] += int(ps[b])
            acc[0][1] += 1
            acc[1][0] += int(pl[b])
            acc[1][1] += 1
        for k, r in enumerate(it.rubrics):
            acc = fam_acc[_family(r)]
            acc[2][0] += int(fs[b, k])
            acc[2][1] += 1
            acc[3][0] += int(fl[b, k])
            acc[3][1] += 1
            methods[str(strict.method[b, k])] += 1
            tot[0] += int(fs[b, k])
            tot[1] += int(fl[b, k])
        rows.append(
            {
                "item_id": it.id,
                "prompt": it.instruction,
                "response": resp,
                "prompt_strict": bool(ps[b]),
                "prompt_loose": bool(pl[b]),
                "rubrics": [
                    {
                        "id": r.id,
                        "text": r.text,
                        "family": _family(r),
                        "strict": bool(fs[b, k]),
                        "loose": bool(fl[b, k]),
                        "method": str(strict.method[b, k]),
                    }
                    for k, r in enumerate(it.rubrics)
                ],
            }
        )
    n = len(items)

    def ratio(a: int, d: int) -> float:
        return a / d if d else 0.0

    overall = PolicyAccuracy(
        prompt_strict=ratio(int(ps.sum()), n),
        prompt_loose=ratio(int(pl.sum()), n),
        rubric_strict=ratio(tot[0], n_rub),
        rubric_loose=ratio(tot[1], n_rub),
        prompts=n,
        rubrics=n_rub,
    )
    families = {
        fam: PolicyAccuracy(
            prompt_strict=ratio(*a[0]),
            prompt_loose=ratio(*a[1]),
            rubric_strict=ratio(*a[2]),
            rubric_loose=ratio(*a[3]),
            prompts=a[0][1],
            rubrics=a[2][1],
        )
        for fam, a in fam_acc.items()
    }
    undecided = int((strict.rubric_mask & ~strict.decided).sum())
    report = PolicyEvalReport(
        benchmark=benchmark,
        model=model,
        overall=overall,
        families=families if len(families) > 1 else {},
        undecided=undecided,
        methods=dict(methods),
        generation=generation or GenerationConfig(),
        seconds_verify=time.perf_counter() - t0,
    )
    return report, rows


def write_report(out_dir: str | os.PathLike, report: PolicyEvalReport, rows: Sequence[dict[str, Any]]) -> Path:
    out = Path(out_dir)
    write_text(out / "report.json", report.model_dump_json(indent=2))
    write_text(out / "report.md", report.markdown())
    write_jsonl(out / "responses.jsonl", rows)
    return out


def evaluate_policy(
    generator: LocalGenerator | EndpointGenerator,
    items: Sequence[RubricItem],
    *,
    benchmark: str,
    generation: GenerationConfig | None = None,
    judge: Any = None,
    out_dir: str | os.PathLike | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> PolicyEvalReport:
    """Generate, verify, report (and write ``report.json`` / ``report.md`` / ``responses.jsonl`` to ``out_dir``)."""
    cfg = generation or GenerationConfig()
    if not items:
        raise ValueError("no evaluation items")
    t0 = time.perf_counter()
    responses = generator.generate(items, cfg, (lambda d, t: progress("generate", d, t)) if progress else None)
    gen_s = time.perf_counter() - t0
    report, rows = score_responses(
        items,
        responses,
        judge=judge,
        benchmark=benchmark,
        model=generator.name,
        generation=cfg,
        progress=(lambda d, t: progress("judge", d, t)) if progress else None,
    )
    report.seconds_generate = gen_s
    if out_dir is not None:
        write_report(out_dir, report, rows)
    return report


class PolicyEvalConfig(BaseModel):
    """One evaluation run: a local model (model is a folder or hub id) or an endpoint (base_url set, model is the
    served name), a benchmark name or file, generation settings and an optional judge."""

    model: str = Field(min_length=1, description="Policy folder or hub id; with base_url, the served model name.")
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint serving the policy; empty: load the model locally."
    )
    api_key: str | None = Field(None, description="API key of base_url.")
    max_concurrency: int = Field(8, ge=1, description="Endpoint requests in flight at most.")
    benchmark: str = Field("ifeval", description="Benchmark name (ifeval, muldimif) or a rubric item file.")
    format: str = Field("auto", description="Record format of a benchmark file (auto: detected).")
    limit: int | None = Field(None, ge=1, description="Evaluate the first N prompts only; empty: all.")
    out: str | None = Field(None, description="Folder for report.md, metrics.json and the answers; empty: none.")
    dtype: str | None = Field(
        None, description="Torch dtype of a local model (float32, bfloat16...); empty: the model's own."
    )
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="Generation settings.")
    judge: dict[str, Any] | None = Field(
        None,
        description="LLM judge endpoint (base_url, model...) for "
        "LLM-judged rubrics; empty: such rubrics count as undecided.",
    )

    def make_generator(self) -> LocalGenerator | EndpointGenerator:
        if self.base_url:
            cfg: dict[str, Any] = {
                "base_url": self.base_url,
                "model": self.model,
                "max_concurrency": self.max_concurrency,
                "max_tokens": self.generation.max_new_tokens,
            }
            if self.api_key:
                cfg["api_key"] = self.api_key
            return EndpointGenerator(cfg)
        return LocalGenerator(self.model, dtype=self.dtype)


def run_evaluation(cfg: PolicyEvalConfig, progress: Callable[[str, int, int], None] | None = None) -> PolicyEvalReport:
    """Load the benchmark, build generator and judge, evaluate and write the report to ``cfg.out``."""
    from grpo.dataset import load_items
    from grpo.judge import build_judge

    items = load_items(cfg.benchmark, format=cfg.format, limit=cfg.limit)
    name = cfg.benchmark if cfg.benchmark in ("ifeval", "ifbench", "muldimif") else Path(cfg.benchmark).stem
    return evaluate_policy(
        cfg.make_generator(),
        items,
        benchmark=name,
        generation=cfg.generation,
        judge=build_judge(cfg.judge),
        out_dir=cfg.out,
        progress=progress,
    )


# ----------------------------------------------------------------------------------------------- in training


class _PolicyEvalMixin:
    """Every ``every`` optimizer steps, evaluate the training policy on ``items`` (a small subset).

    Runs on the main process with the unwrapped model (skipped for ZeRO-3 sharded models, where every rank
    would have to take part); writes ``<output_dir>/policy_eval/step_XXXXXX/`` and logs ``policy_eval/*``
    metrics through the trainer when one is attached (:meth:`attach`), else into ``state.log_history``.
    ``PolicyEvalCallback`` (a ``transformers.TrainerCallback``) is created on first access so importing this
    module does not import transformers.
    """

    def __init__(
        self,
        items: Sequence[RubricItem],
        *,
        every: int,
        benchmark: str = "subset",
        generation: GenerationConfig | None = None,
        judge: Any = None,
    ):
        if every < 1:
            raise ValueError("every must be >= 1")
        self.items, self.every, self.benchmark = list(items), every, benchmark
        self.generation = generation or GenerationConfig(max_new_tokens=256)
        self.judge = judge
        self.trainer = None
        self.reports: list[tuple[int, PolicyEvalReport]] = []

    def attach(self, trainer):
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step % self.every or not state.is_world_process_zero:
            return control
        if self.trainer is not None and getattr(self.trainer, "is_deepspeed_enabled", False):
            ds = self.trainer.accelerator.state.deepspeed_plugin
            if ds is not None and ds.zero_stage == 3:
                return control  # a sharded model cannot generate on one rank
        tok = processing_class if processing_class is not None else getattr(self.trainer, "processing_class", None)
        unwrapped = self.trainer.accelerator.unwrap_model(model) if self.trainer is not None else model
        gen = LocalGenerator(unwrapped, tok)
        out_dir = Path(args.output_dir) / "policy_eval" / f"step_{state.global_step:06d}"
        report = evaluate_policy(
            gen, self.items, benchmark=self.benchmark, generation=self.generation, judge=self.judge, out_dir=out_dir
        )
        self.reports.append((state.global_step, report))
        metrics = {
            f"policy_eval/{k}": getattr(report.overall, k)
            for k in ("prompt_strict", "prompt_loose", "rubric_strict", "rubric_loose")
        }
        if self.trainer is not None and hasattr(self.trainer, "_metrics"):
            for k, v in metrics.items():
                self.trainer._metrics["train"][k].append(v)
        else:
            state.log_history.append({"step": state.global_step, **metrics})
        return control


@functools.cache
def _callback_class() -> type:
    from transformers import TrainerCallback

    return type(
        "PolicyEvalCallback",
        (_PolicyEvalMixin, TrainerCallback),
        {"__module__": __name__, "__doc__": _PolicyEvalMixin.__doc__},
    )


if TYPE_CHECKING:  # for type checkers and linters; at run time the class is made on first access (below)
    from transformers import TrainerCallback

    class PolicyEvalCallback(_PolicyEvalMixin, TrainerCallback): ...


def __getattr__(name: str):
    if name == "PolicyEvalCallback":
        return _callback_class()  # made once (cached): every access and isinstance check sees the same class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EndpointGenerator",
    "EvalReport",
    "GenerationConfig",
    "LocalGenerator",
    "PolicyAccuracy",
    "PolicyEvalCallback",
    "PolicyEvalConfig",
    "PolicyEvalReport",
    "evaluate_policy",
    "run_evaluation",
    "score_responses",
    "write_report",
]
