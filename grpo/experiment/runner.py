"""The learning experiment: train one policy under several arms x seeds and evaluate on held-out prompts.

For a given seed every arm starts from the same weights (loaded from the same folder), trains on the same
prompts in the same order (TRL's sampler is seeded with the run seed, the dataset is the same), with the
same generation budget, temperature, optimiser and learning rate; arms differ only in the reward and the
token term (:class:`~grpo.experiment.config.ArmSpec`). Every ``eval_every`` steps (and at step 0 and at the
end) the policy decodes the held-out prompts (greedily, or ``eval_samples`` sampled answers per prompt); the report has
strict / loose prompt- and rubric-level pass rates, pass rates per rubric kind, diversity (mean length, distinct-2,
repetition) and drift (KL to and perplexity under the initial policy) - see :mod:`grpo.experiment.metrics`.

Resumable: each (arm, seed) writes ``runs/<arm>/seed<k>/result.json`` (atomically, last) and is skipped when
it exists; the step-0 evaluation of the initial policy is shared (``base/eval.json``). A run in progress holds
``seed<k>.lock`` (its pid), so several worker processes can share one output folder. With ``checkpoint_every``
a run in progress also saves ``seed<k>.partial/checkpoint-N`` (weights, optimizer, RNG and, written last,
``rtt_progress.json`` with its evaluations so far), and an interrupted run continues from the newest complete one.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from grpo.experiment.config import ArmSpec, ExperimentConfig
from grpo.experiment.relevance import chars_onto_policy_tokens, shuffle_relevance
from grpo.experiment.task import build_task
from grpo.rtt_grpo_config import RTTGRPOConfig
from grpo.rtt_grpo_trainer import RTTGRPOTrainer
from rubrics.io import take_pid_lock, write_text

logger = logging.getLogger(__name__)
Log = Callable[[str], None]


class _NoScorer:
    """Stands in for a discriminator where relevance comes from elsewhere (oracle / CoRT)."""


class ArmTrainer(RTTGRPOTrainer):
    """:class:`RTTGRPOTrainer` whose relevance comes from the arm's source; records what it was fed.

    ``seen`` holds the item ids of every generation batch (in order) and ``generation`` the sampling settings,
    so tests can check that arms are fed identically.
    """

    def __init__(self, *args, arm: ArmSpec, cort=None, shuffle_seed: int = 0, **kwargs):
        self.arm = arm
        self.cort = cort
        self.seen: list[list[str]] = []
        self._shuffle = torch.Generator().manual_seed(10_007 * shuffle_seed + 17)
        if arm.relevance in ("oracle", "oracle-shuffled", "uniform", "cort") and kwargs.get("scorer") is None:
            kwargs["scorer"] = _NoScorer()
        super().__init__(*args, **kwargs)
        with torch.no_grad():  # a checksum of the starting weights: equal across arms of a seed
            self.init_checksum = float(sum(p.double().sum() + p.double().abs().sum() for p in self.model.parameters()))

    @property
    def generation(self) -> dict[str, Any]:
        a = self.args
        return {
            k: getattr(a, k)
            for k in (
                "max_completion_length",
                "temperature",
                "top_p",
                "top_k",
                "num_generations",
                "per_device_train_batch_size",
                "seed",
                "learning_rate",
                "optim",
            )
        }

    def _generate_and_score_completions(self, inputs):
        self.seen.append([str(x.get("item_id")) for x in inputs])
        out = super()._generate_and_score_completions(inputs)
        self._last_completion_ids = out["completion_ids"].detach().cpu()
        return out

    def relevance(self, v, completion_ids, completion_mask):
        src = self.arm.relevance
        if src == "discriminator":
            return super().relevance(v, completion_ids, completion_mask)
        if src == "shuffled":
            rel = super().relevance(v, completion_ids, completion_mask)
            return shuffle_relevance(rel.cpu(), completion_mask.cpu(), self._shuffle).to(completion_ids.device)
        b, t = completion_ids.shape
        rel = torch.zeros(b, v.arrays.use.shape[1], t, dtype=torch.float32)
        lengths = completion_mask.sum(-1).tolist()
        ids_cpu = completion_ids.cpu()
        pairs = self._relevance_pairs(v, completion_mask)
        if src == "uniform":  # every response token, every rubric the item uses: credit without localisation
            use = torch.as_tensor(v.arrays.use, dtype=torch.float32)[:, :, None]
            rel = use * completion_mask.cpu().to(torch.float32)[:, None, :]
        elif src in ("oracle", "oracle-shuffled"):
            self.rule_relevance(v, ids_cpu, lengths, pairs, rel, exact_only=False)
            if src == "oracle-shuffled":
                rel = shuffle_relevance(rel, completion_mask.cpu(), self._shuffle)
        elif src == "cort":
            if pairs:
                scores = self.cort.char_scores(
                    [v.items[i].rubrics[k].text for i, k in pairs],
                    [v.texts[i] for i, _ in pairs],
                    [v.items[i].instruction for i, _ in pairs],
                )
                for (i, k), chars in zip(pairs, scores):
                    n = int(lengths[i])
                    sc = chars_onto_policy_tokens(chars, self._tokenizer, ids_cpu[i, :n].tolist(), v.texts[i])
                    rel[i, k, : min(n, t)] = sc[: min(n, t)]
        else:
            raise ValueError(f"arm {self.arm.name!r}: relevance {src!r} with a token term")
        self.relevance_sources = {p: src for p in pairs}
        return rel.to(completion_ids.device)


# ----------------------------------------------------------------------------------------------- paths


def model_path(cfg: ExperimentConfig) -> str:
    if cfg.model == "smollm2":
        from rubrics.offline_models import smollm2_dir

        return str(smollm2_dir())
    if (
        cfg.model == "testbed"
    ):  # the tiny self-pretrained testbed LM, built on first use (grpo/experiment/testbed_lm.py)
        from grpo.experiment.testbed_lm import DEFAULT_PATH, ensure_testbed_lm

        return str(ensure_testbed_lm(DEFAULT_PATH))
    return cfg.model


def run_dir(cfg: ExperimentConfig, arm: str, seed: int) -> Path:
    return Path(cfg.out) / "runs" / arm / f"seed{seed}"


def grpo_args(cfg: ExperimentConfig, arm: ArmSpec, seed: int, output_dir: str | Path) -> RTTGRPOConfig:
    """The trainer arguments of one (arm, seed): shared settings + the arm's reward and token term."""
    kw: dict[str, Any] = {
        "output_dir": str(output_dir),
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "use_cpu": cfg.use_cpu,
        "bf16": cfg.dtype == "bfloat16",
        "seed": seed,
        "data_seed": seed,
        "max_steps": cfg.steps,
        "per_device_train_batch_size": cfg.prompts_per_step * cfg.num_generations,
        "num_generations": cfg.num_generations,
        "max_completion_length": cfg.max_completion_length,
        "temperature": cfg.temperature,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "loss_type": "grpo",
        "beta": 0.0,
        "gradient_checkpointing": False,
        "model_init_kwargs": {"dtype": cfg.dtype},
        "disable_tqdm": True,
        **(
            {"save_strategy": "steps", "save_steps": cfg.checkpoint_every, "save_total_limit": 1}
            if cfg.checkpoint_every
            else {}
        ),
        **cfg.grpo,
        "rtt_beta": arm.beta,
        "rtt_alpha": arm.alpha,
        "rtt_reward": arm.reward,
        "rtt_token_norm": arm.token_norm,
        "rtt_combine": arm.combine,
        "rtt_token_credit": arm.token_credit,
        "rtt_centred_scale": arm.centred_scale,
        "rtt_response_advantage": arm.response_advantage,
        "discriminator_path": cfg.discriminator if arm.needs_discriminator else None,
    }
    return RTTGRPOConfig(**kw)


# ----------------------------------------------------------------------------------------------- evaluation


def _eval_callback_class():
    from transformers import TrainerCallback

    class ExperimentCallback(TrainerCallback):
        """Seconds per step, and the held-out evaluation every ``every`` steps and at the end."""

        def __init__(
            self, evaluate: Callable[[Any, Any, int], dict[str, Any]], every: int, steps: int, seen: list | None = None
        ):
            self.evaluate, self.every, self.steps = evaluate, every, steps
            self.evals: list[dict[str, Any]] = []
            self.step_seconds: list[float] = []
            self.seen = seen if seen is not None else []
            self._t = None

        def on_save(self, args, state, control, **kwargs):
            """Complete the checkpoint with the run's own progress, written last: a checkpoint without
            ``rtt_progress.json`` was cut off and is never resumed from."""
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                write_text(
                    ckpt / PROGRESS,
                    json.dumps(
                        {
                            "step": state.global_step,
                            "evals": self.evals,
                            "step_seconds": self.step_seconds,
                            "seen": self.seen,
                        }
                    ),
                )
            return control

        def on_step_begin(self, args, state, control, **kwargs):
            if self._t is None:
                self._t = time.perf_counter()
            return control

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            self.step_seconds.append(time.perf_counter() - self._t)
            if state.global_step % self.every == 0 or state.global_step == self.steps:
                self.evals.append(self.evaluate(model, processing_class, state.global_step))
            self._t = time.perf_counter()
            return control

    return ExperimentCallback


PROGRESS = "rtt_progress.json"


def resumable_checkpoint(work: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest ``checkpoint-N`` of an interrupted run that is complete (its ``rtt_progress.json`` parses and
    names step N, and its files are intact: :func:`discriminator.checkpoints.checkpoint_problem`), with that
    progress; ``None`` when there is none."""
    from discriminator.checkpoints import checkpoint_problem

    found = []
    for ckpt in work.glob("checkpoint-*"):
        try:
            step = int(ckpt.name.split("-", 1)[1])
            progress = json.loads((ckpt / PROGRESS).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if progress.get("step") == step and checkpoint_problem(ckpt) is None:
            found.append((step, ckpt, progress))
    if not found:
        return None
    _, ckpt, progress = max(found, key=lambda f: f[0])
    return ckpt, progress


class HeldOut:
    """Held-out evaluation (greedy, or ``eval_samples`` answers per prompt sampled at the training temperature)
    + diversity and drift against the frozen initial policy.

    Sampled: each prompt's rates are the means over its k answers (expected pass rates; the per-prompt vectors the
    report's bootstrap resamples are those means), diversity and drift are over all answers, and ``responses`` keeps
    the first answer of each prompt. The sampling seed is ``seed * 10007 + step`` (the same for every arm of a run
    seed: common random numbers for the paired comparison) and runs in a forked RNG, so evaluating does not move
    training's random stream."""

    def __init__(self, cfg: ExperimentConfig, items, init_model, tokenizer, seed: int = 0):
        from grpo.evaluate import GenerationConfig

        self.cfg, self.items, self.init_model, self.tokenizer, self.seed = cfg, items, init_model, tokenizer, seed
        self.k = cfg.eval_samples
        self.gen = GenerationConfig(
            max_new_tokens=cfg.max_completion_length,
            temperature=cfg.temperature if self.k else 0.0,
            batch_size=cfg.eval_batch_size,
        )

    @property
    def decoding(self) -> dict[str, Any]:
        if not self.k:
            return {"mode": "greedy"}
        return {"mode": "sampled", "samples": self.k, "temperature": self.gen.temperature}

    def __call__(self, model, tokenizer, step: int) -> dict[str, Any]:
        from grpo.evaluate import LocalGenerator, score_responses
        from grpo.experiment.metrics import diversity, drift, per_kind

        t0 = time.perf_counter()
        tok = tokenizer or self.tokenizer
        k = max(self.k, 1)
        items = [it for it in self.items for _ in range(k)]
        if self.k:
            gen = self.gen.model_copy(update={"seed": self.seed * 10_007 + step})
            devices = [next(model.parameters()).device] if next(model.parameters()).is_cuda else []
            with torch.random.fork_rng(devices=devices):
                responses = LocalGenerator(model, tok).generate(items, gen)
        else:
            responses = LocalGenerator(model, tok).generate(items, self.gen)
        report, rows = score_responses(items, responses, benchmark="heldout", generation=self.gen)
        out = {"step": step, **report.overall.model_dump(), "kinds": per_kind(items, rows), "decoding": self.decoding}

        def per_prompt(value) -> list[float]:  # one value per held-out prompt: the mean over its k answers
            xs = [float(value(r)) for r in rows]
            return [sum(xs[j * k : (j + 1) * k]) / k for j in range(len(self.items))]

        # per held-out prompt, in the order of the items: what the report's paired bootstrap resamples
        out["per_prompt"] = {
            "item_ids": [str(it.id) for it in self.items],
            "prompt_strict": per_prompt(lambda r: r["prompt_strict"]),
            "prompt_loose": per_prompt(lambda r: r["prompt_loose"]),
            "rubric_strict": per_prompt(
                lambda r: sum(x["strict"] for x in r["rubrics"]) / len(r["rubrics"]) if r["rubrics"] else 0.0
            ),
            "rubric_loose": per_prompt(
                lambda r: sum(x["loose"] for x in r["rubrics"]) / len(r["rubrics"]) if r["rubrics"] else 0.0
            ),
            "rubrics": [len(it.rubrics) for it in self.items],
        }
        if not self.k:  # greedy: the pass / fail of the one answer, as integers (as recorded before)
            for key in ("prompt_strict", "prompt_loose"):
                out["per_prompt"][key] = [int(x) for x in out["per_prompt"][key]]
        out.update(diversity(responses))
        out.update(drift(model, self.init_model, tok, items, responses))
        out["seconds"] = time.perf_counter() - t0
        out["responses"] = responses[::k]
        return out


def load_policy(cfg: ExperimentConfig, path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, cfg.dtype))
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not cfg.use_cpu and torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval(), tok


def base_eval(cfg: ExperimentConfig, heldout, init_model, tok, log: Log = print) -> dict[str, Any]:
    """Step-0 evaluation of the initial policy, the same for every arm and seed (sampled: with seed 0); cached
    in ``base/eval.json`` and evaluated again when the cache was made with another decoding."""
    path = Path(cfg.out) / "base" / "eval.json"
    held = HeldOut(cfg, heldout, init_model, tok)
    if path.is_file():
        res = json.loads(path.read_text(encoding="utf-8"))
        if res.get("decoding", {"mode": "greedy"}) == held.decoding:
            return res
        log(
            f"{path}: evaluated with {res.get('decoding', {'mode': 'greedy'})}, the config asks for {held.decoding}: "
            "evaluating again"
        )
    log("evaluating the initial policy on the held-out prompts")
    res = held(init_model, tok, 0)
    write_text(path, json.dumps(res, indent=1))
    return res


def initial_pass_rates(cfg: ExperimentConfig, init_model, tok, log: Log = print) -> dict[str, Any]:
    """Pass rates of the initial policy on the train prompts when *sampled* as in training (the reward
    density the arms start from): per rubric kind, rubric-level and AON. Cached in ``base/initial.json``."""
    from grpo.evaluate import GenerationConfig, LocalGenerator, score_responses
    from grpo.experiment.metrics import per_kind

    path = Path(cfg.out) / "base" / "initial.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    log("sampling the initial policy on the train prompts (initial pass rates)")
    train, _ = build_task(cfg.task)
    items = [it for it in train for _ in range(cfg.initial_samples)]
    gen = GenerationConfig(
        max_new_tokens=cfg.max_completion_length,
        temperature=cfg.temperature,
        batch_size=cfg.eval_batch_size,
        seed=cfg.seeds[0],
    )
    responses = LocalGenerator(init_model, tok).generate(items, gen)
    report, rows = score_responses(items, responses, benchmark="train-sampled", generation=gen)
    res = {
        "samples": len(items),
        "aon": report.overall.prompt_strict,
        "rubric": report.overall.rubric_strict,
        "kinds": per_kind(items, rows),
    }
    write_text(path, json.dumps(res, indent=1))
    return res


# ----------------------------------------------------------------------------------------------- one run


_TRAIN_KEYS = (
    "reward",
    "reward_std",
    "rtt/reward/aon",
    "rtt/reward/csr",
    "loss",
    "entropy",
    "grad_norm",
    "rtt/groups/frac_zero_std",
    "rtt/groups/frac_zero_std_with_token_signal",
    "rtt/tok_adv/mean",
    "rtt/tok_adv/std",
    "rtt/tok_adv/abs_max",
    "rtt/adv/std",
    "rtt/time/discriminator",
    "completions/mean_length",
)


def run_one(
    cfg: ExperimentConfig, arm: ArmSpec, seed: int, *, init_model=None, tokenizer=None, cort=None, log: Log = print
) -> dict[str, Any] | None:
    """Train and evaluate one (arm, seed); returns (and writes) ``result.json``. Skipped when already done;
    ``None`` when another process is running it (a ``.lock`` per run: several workers may share ``out``)."""
    out = run_dir(cfg, arm.name, seed)
    done = out / "result.json"
    if done.is_file():
        log(f"{arm.name} seed {seed}: done, skipped")
        return json.loads(done.read_text(encoding="utf-8"))
    lock = out.with_name(out.name + ".lock")
    if not take_pid_lock(lock):
        log(f"{arm.name} seed {seed}: running in another process, skipped")
        return None
    try:
        if done.is_file():  # finished by another process between the check and the lock
            return json.loads(done.read_text(encoding="utf-8"))
        return _train_one(cfg, arm, seed, init_model=init_model, tokenizer=tokenizer, cort=cort, log=log)
    finally:
        lock.unlink(missing_ok=True)


def _train_one(
    cfg: ExperimentConfig, arm: ArmSpec, seed: int, *, init_model, tokenizer, cort, log: Log
) -> dict[str, Any]:
    from grpo.dataset import build_prompt_dataset

    out = run_dir(cfg, arm.name, seed)
    done = out / "result.json"
    path = model_path(cfg)
    if init_model is None:
        init_model, tokenizer = load_policy(cfg, path)
    train_items, heldout = build_task(cfg.task)
    base = base_eval(cfg, heldout, init_model, tokenizer, log)
    work = out.with_name(out.name + ".partial")
    resume = resumable_checkpoint(work) if cfg.checkpoint_every else None
    if resume is None:
        shutil.rmtree(work, ignore_errors=True)
    args = grpo_args(cfg, arm, seed, work)
    if arm.relevance == "cort" and cort is None:
        from discriminator.baselines import CoRTScorer

        cort = CoRTScorer(
            path,
            device="cuda" if not cfg.use_cpu and torch.cuda.is_available() else "cpu",
            token_budget=cfg.cort_token_budget,
        )
    t0 = time.perf_counter()
    trainer = ArmTrainer(
        path, args=args, train_dataset=build_prompt_dataset(train_items), arm=arm, cort=cort, shuffle_seed=seed
    )
    cb = _eval_callback_class()(
        HeldOut(cfg, heldout, init_model, tokenizer, seed=seed), cfg.eval_every, cfg.steps, trainer.seen
    )
    trainer.add_callback(cb)
    resumed_from = 0
    if resume is not None:
        ckpt, progress = resume
        resumed_from = int(progress["step"])
        cb.evals, cb.step_seconds = list(progress["evals"]), list(progress["step_seconds"])
        trainer.seen[:] = progress["seen"]
        log(f"{arm.name} seed {seed}: resuming from {ckpt.name} (step {resumed_from} of {cfg.steps})")
    else:
        log(f"{arm.name} seed {seed}: training {cfg.steps} steps")
    trainer.train(resume_from_checkpoint=str(resume[0]) if resume is not None else None)
    history = [
        {k: h[k] for k in _TRAIN_KEYS if k in h} | {"step": h.get("step")}
        for h in trainer.state.log_history
        if "reward" in h or "loss" in h
    ]
    result = {
        "arm": arm.model_dump(),
        "seed": seed,
        "steps": trainer.state.global_step,
        "seconds": time.perf_counter() - t0,
        "step_seconds": cb.step_seconds,
        "generation": trainer.generation,
        "seen": trainer.seen,
        "init_checksum": trainer.init_checksum,
        "train": history,
        "evals": [base | {"step": 0}] + cb.evals,
        "model": cfg.model,
        "resumed_from_step": resumed_from,
    }
    write_text(out / "evals.json", json.dumps(result["evals"], indent=1))
    write_text(done, json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    del trainer
    return result


def run_experiment(
    cfg: ExperimentConfig, *, arms: list[str] | None = None, seeds: list[int] | None = None, log: Log = print
) -> dict[str, Any]:
    """Every (seed, arm) run not done yet (seed-major, so partial results cover all arms), then the report.
    Several processes may work on the same ``out`` at once: each takes the runs nobody holds."""
    from grpo.experiment.report import write_report

    chosen = [cfg.arm(a) for a in arms] if arms else cfg.arms
    seeds = seeds if seeds is not None else cfg.seeds
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    write_text(Path(cfg.out) / "config.json", cfg.model_dump_json(indent=2))
    init_model, tok = load_policy(cfg, model_path(cfg))
    initial_pass_rates(cfg, init_model, tok, log)
    cort = None
    for seed in seeds:
        for arm in chosen:
            if (
                arm.relevance == "cort"
                and cort is None
                and not (run_dir(cfg, arm.name, seed) / "result.json").is_file()
            ):
                from discriminator.baselines import CoRTScorer

                cort = CoRTScorer(
                    model_path(cfg),
                    device="cuda" if not cfg.use_cpu and torch.cuda.is_available() else "cpu",
                    token_budget=cfg.cort_token_budget,
                )
            run_one(cfg, arm, seed, init_model=init_model, tokenizer=tok, cort=cort, log=log)
            write_report(cfg, log=lambda _m: None)  # partial report after every run
    return write_report(cfg, log=log)
