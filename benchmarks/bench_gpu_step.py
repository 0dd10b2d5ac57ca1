"""The paper-scale path on a real GPU: a ZeRO-3 RTT-GRPO step, and the RTT step cost at paper shape.

One command does both and writes ``summary.json`` + ``log.txt`` to ``--out`` (partial results after each part):

A. ZeRO-3 step (``zero3``). Two ``accelerate launch`` runs of the same RTT-GRPO step on one process: one with the
   project's ``grpo/configs/accelerate/deepspeed_zero3.yaml`` (ZeRO-3, bf16, ``zero3_init_flag``), one plain
   (no DeepSpeed, bf16 autocast). Policy: a small random Llama (SmolLM2 tokenizer) loaded from a folder, so under
   ZeRO-3 it is built inside ``deepspeed.zero.Init``; discriminator: MiniLM-L6-shaped (BertConfig of
   all-MiniLM-L6-v2, random weights, the real tokenizer) loaded by the trainer through ``grpo.frozen``. Step 1
   uses FIXED completions (the same token ids in both runs: sampling under a bf16 ZeRO-3 engine and under
   autocast would draw different tokens, so advantages could not be compared); step 2 generates with TRL's
   transformers path (under ZeRO-3: gathered parameters). Recorded: every discriminator parameter whole (full
   numel, no ``ds_id``/``ds_status``, on the GPU) while the policy IS partitioned (0-size local tensors), the
   steps finish with a finite loss, step-1 token advantages finite and equal between the two runs.
B. Paper-shape step cost (``paper``). The same trainer twice in one process: plain GRPO (``rtt_beta=0``, no
   discriminator) and RTT-GRPO (``rtt_beta=0.5``, intra), policy SmolLM2-1.7B-shaped (Llama, random weights,
   bf16, gradient checkpointing), FIXED random completions of exactly ``--length`` tokens (generation is not
   what differs), 20 rubrics per prompt (a stand-in judge answers YES/NO from a hash: judge latency is not
   what differs either), the paper layout's per-GPU micro-batch (8 completions = one prompt group) and its two
   optimiser steps per generation round (``steps_per_generation = 2 x gradient_accumulation_steps``). Each
   RL step is timed with ``torch.cuda.synchronize``; the first (warm-up) is dropped. The discriminator's share
   is the synchronised time of ``RTTGRPOTrainer.relevance`` (every (response, rubric) pair with its windows),
   split into tokenisation, policy offsets, windows, model forward (+ host copy) and projection.

Run (any machine; GPU for the real figures)::

    python benchmarks/bench_gpu_step.py all --out runs/bench-gpu            # GPU defaults
    python benchmarks/bench_gpu_step.py all --out /tmp/b --cpu-smoke        # tiny shapes, CPU, no DeepSpeed
    python benchmarks/bench_gpu_step.py host                                # scorer host-side cost, any machine
    benchmarks/gpu_bundle.sh DEST; then on an offline GPU machine: bash DEST/run.sh   # wheels + files for one call
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

T0 = time.time()

# SmolLM2-1.7B (Llama) and a small Llama of the same family; 'tiny' for CPU smoke runs
POLICY_SHAPES = {
    "smollm2-1.7b": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=24,
        num_attention_heads=32,
        num_key_value_heads=32,
        rope_theta=130000.0,
    ),
    "smollm2-360m": dict(
        hidden_size=960,
        intermediate_size=2560,
        num_hidden_layers=32,
        num_attention_heads=15,
        num_key_value_heads=5,
        rope_theta=100000.0,
    ),
    "small": dict(
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=10000.0,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=10000.0,
    ),
}

RUBRIC_TEXTS = [
    "The response must contain at least 300 words.",
    "Do not use any commas in the response.",
    "Answer in all lowercase letters.",
    "End the response with the exact phrase 'Is there anything else?'",
    "Include the keywords banana and harbour.",
    "Use at least three bullet points in markdown.",
    "Wrap the entire response in double quotation marks.",
    "The response must have exactly 4 paragraphs.",
    "Mention the year the company was founded.",
    "Do not include the word 'very'.",
    "Write a title wrapped in double angular brackets, such as <<poem of joy>>.",
    "Claims that the medication is safe during pregnancy.",
    "Highlight at least two sections with markdown.",
    "The letter q should appear at least 5 times.",
    "Respond in French, no other language is allowed.",
    "Finish with a postscript starting with P.S.",
    "Explains the trade-off between latency and throughput.",
    "Uses a numbered list for the steps of the procedure.",
    "Does not recommend a specific brand.",
    "Gives a concrete example with numbers.",
]


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------------ models


def minilm_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 folder (config + tokenizer files are all that is read from it)."""
    from discriminator.config import default_backbone

    return Path(default_backbone())


def build_discriminator(out: Path, src: Path, seed: int = 0, weights: str = "random") -> Path:
    """A MiniLM-L6-shaped one-logit token classifier: ``random`` (BertConfig of ``src``) or ``real`` weights."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(seed)
    if weights == "real":
        model = AutoModelForTokenClassification.from_pretrained(str(src), num_labels=1)
    else:
        cfg = AutoConfig.from_pretrained(str(src), num_labels=1)
        model = AutoModelForTokenClassification.from_config(cfg)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(out)
    return out


def policy_tokenizer(src: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(src))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def policy_config(shape: str, tok):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tok),
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        use_cache=False,
        **POLICY_SHAPES[shape],
    )


def build_policy_dir(out: Path, shape: str, tok_src: Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaForCausalLM

    tok = policy_tokenizer(tok_src)
    torch.manual_seed(seed)
    LlamaForCausalLM(policy_config(shape, tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def policy_tokenizer_dir() -> Path:
    from rubrics.offline_models import smollm2_dir

    return smollm2_dir()


def param_count(cfg, cls_name: str) -> int:
    """Full parameter count of a model built from ``cfg`` (on the meta device: no memory)."""
    import torch
    import transformers

    with torch.device("meta"):
        m = (
            getattr(transformers, cls_name).from_config(cfg)
            if cls_name.startswith("Auto")
            else getattr(transformers, cls_name)(cfg)
        )
    return sum(p.numel() for p in m.parameters())


# ------------------------------------------------------------------------------------------------ data, judge


def rubric_items(n_prompts: int, n_rubrics: int, seed: int = 0):
    from rubrics.schema import Rubric, RubricItem

    items = []
    for i in range(n_prompts):
        rubrics = [
            Rubric(
                id=f"p{i}#{k}",
                text=RUBRIC_TEXTS[(i + k) % len(RUBRIC_TEXTS)],
                weight=-1.0 if RUBRIC_TEXTS[(i + k) % len(RUBRIC_TEXTS)].startswith(("Claims", "Does not")) else 1.0,
            )
            for k in range(n_rubrics)
        ]
        items.append(
            RubricItem(id=f"p{i}", prompt=f"Write a detailed answer about topic number {i + seed}.", rubrics=rubrics)
        )
    return items


class HashJudge:
    """Stand-in for the external LLM judge: YES with probability ``p_yes`` from a hash of (rubric, response)."""

    def __init__(self, p_yes: float = 0.8):
        self.p_yes = p_yes
        self.calls = 0

    async def ajudge(self, requests, progress=None):
        from rubrics.judge import JudgeVerdict

        self.calls += 1
        out = []
        for r in requests:
            h = hashlib.blake2b(f"{r.rubric.id}\x00{r.response}".encode(), digest_size=8).digest()
            out.append(JudgeVerdict(satisfied=int.from_bytes(h, "little") / 2**64 < self.p_yes, raw="stand-in"))
        return out


def completion_pool(tok) -> list[int]:
    """Ids a random completion draws from: every non-special token that decodes to whole characters (so the
    decoded text is valid UTF-8, as a policy's output is)."""
    from discriminator.scoring import special_token_ids

    specials = special_token_ids(tok) | {tok.pad_token_id, tok.eos_token_id}
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    return [
        i
        for i, p in enumerate(pieces)
        if i not in specials and p is not None and "\ufffd" not in tok.convert_tokens_to_string([p])
    ]


def corpus_ids(tok) -> list[int]:
    """English prose for text completions: this project's README and docs, tokenised by the policy tokenizer."""
    texts = [ROOT.joinpath("README.md").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in sorted(ROOT.joinpath("docs").glob("*.md"))]
    return tok("\n\n".join(texts), add_special_tokens=False)["input_ids"]


def make_trainer_class():
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer

    class FixedCompletionTrainer(RTTGRPOTrainer):
        """RTT-GRPO with TRL's generation replaced by fixed random completions of exactly ``fixed_length`` tokens
        for the first ``fixed_rounds`` generation rounds (then TRL's own generation)."""

        fixed_length = 64
        fixed_rounds = 10**9
        fixed_seed = 0
        fixed_source = "random"  # "random": ids drawn from completion_pool; "text": slices of corpus_ids
        _rounds = 0
        _pool = None

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
            if self._rounds >= self.fixed_rounds:
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, has_tool_images
                )
            import torch

            n, length = len(prompt_ids), self.fixed_length
            g = torch.Generator().manual_seed(self.fixed_seed * 1_000_003 + self._rounds)
            self._rounds += 1
            if self.fixed_source == "text":
                if self._pool is None:
                    ids = corpus_ids(self._tokenizer)
                    self._pool = torch.tensor(ids * (1 + (2 * length) // max(len(ids), 1)))
                starts = torch.randint(len(self._pool) - length, (n,), generator=g)
                return [self._pool[s : s + length].tolist() for s in starts.tolist()], None
            if self._pool is None:
                self._pool = torch.tensor(completion_pool(self._tokenizer))
            idx = torch.randint(len(self._pool), (n, length), generator=g)
            return self._pool[idx].tolist(), None

    return FixedCompletionTrainer


def trainer_args(out: Path, **kw):
    from grpo.rtt_grpo_config import RTTGRPOConfig

    base = dict(
        output_dir=str(out),
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        loss_type="grpo",
        learning_rate=1e-6,
        disable_tqdm=True,
        beta=0.0,
        epsilon=0.2,
        epsilon_high=0.27,
        rtt_reward="aon",
        rtt_token_norm="intra",
        max_rubrics=20,
        temperature=0.99,
        top_p=0.99,
        top_k=100,
    )
    base.update(kw)
    return RTTGRPOConfig(**base)


class StepTimer:
    """A TrainerCallback: synchronised wall time of every optimiser step; stops past a deadline."""

    def __new__(cls, *a, **kw):
        from transformers import TrainerCallback

        class _T(TrainerCallback):
            def __init__(self, deadline: float | None = None, min_steps: int = 1):
                self.begin, self.end = [], []
                self.deadline, self.min_steps = deadline, min_steps

            def on_step_begin(self, args, state, control, **k):
                sync()
                self.begin.append(time.perf_counter())

            def on_step_end(self, args, state, control, **k):
                sync()
                self.end.append(time.perf_counter())
                if self.deadline is not None and time.time() > self.deadline and len(self.end) >= self.min_steps:
                    control.should_training_stop = True

        return _T(*a, **kw)


# ------------------------------------------------------------------------------------------------ A. ZeRO-3


def zero3_worker(ns) -> None:
    """One process of part A (started by ``accelerate launch``): builds the trainer, runs the steps, saves."""
    import torch
    from transformers import AutoConfig

    from grpo.dataset import build_prompt_dataset
    from grpo.frozen import is_zero_partitioned, zero3_init_disabled

    work = Path(ns.work)
    disc_cfg = AutoConfig.from_pretrained(str(work / "disc"))
    with zero3_init_disabled():  # counted before the ZeRO-3 config exists, and never inside zero.Init
        expected = param_count(disc_cfg, "AutoModelForTokenClassification")
    items = rubric_items(ns.prompts, ns.rubrics)
    cls = make_trainer_class()
    cls.fixed_length, cls.fixed_rounds = ns.length, 1
    args = trainer_args(
        work / f"out-{ns.tag}",
        per_device_train_batch_size=ns.prompts * ns.gens,
        num_generations=ns.gens,
        max_completion_length=ns.length,
        max_steps=2,
        bf16=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=False,
        rtt_beta=0.5,
        discriminator_path=str(work / "disc"),
    )
    trainer = cls(str(work / "policy"), args=args, train_dataset=build_prompt_dataset(items), judge=HashJudge(0.7))
    res: dict = {"tag": ns.tag, "deepspeed": bool(getattr(trainer, "is_deepspeed_enabled", False))}
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    res["zero_stage"] = getattr(plugin, "zero_stage", None)

    def disc_check(where: str) -> dict:
        ps = list(trainer.scorer.model.parameters())
        return {
            "where": where,
            "expected_numel": expected,
            "numel": sum(p.numel() for p in ps),
            "partitioned_params": sum(is_zero_partitioned(p) for p in ps),
            "empty_params": sum(p.numel() == 0 for p in ps),
            "devices": sorted({str(p.device) for p in ps}),
            "dtypes": sorted({str(p.dtype) for p in ps}),
            "requires_grad": sum(p.requires_grad for p in ps),
            "training": trainer.scorer.model.training,
        }

    def policy_check(model) -> dict:
        ps = list(model.parameters())
        return {
            "params": len(ps),
            "partitioned_params": sum(is_zero_partitioned(p) for p in ps),
            "local_numel": sum(p.numel() for p in ps),
            "full_numel": sum(int(getattr(p, "ds_numel", p.numel())) for p in ps),
        }

    res["disc_at_init"] = disc_check("after trainer init")
    res["policy_at_init"] = policy_check(trainer.model)
    captured: dict = {}
    inner = trainer._rtt_advantages

    def capture(inputs, out):
        adv, timings = inner(inputs, out)
        if "adv" not in captured:
            captured.update({k: trainer.last_rtt[k].detach().float().cpu() for k in ("adv", "tok_adv", "resp_adv")})
            captured["mask"] = trainer.last_rtt["mask"].cpu()
            captured["relevance"] = trainer.last_rtt["relevance"].cpu()
            captured["completion_ids"] = out["completion_ids"].cpu()
            res["disc_in_step"] = disc_check("inside step 1 (after scoring)")
            res["policy_in_step"] = policy_check(trainer.model)
        return adv, timings

    trainer._rtt_advantages = capture
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    res["train_seconds"] = time.perf_counter() - t0
    res["global_step"] = trainer.state.global_step
    res["engine"] = type(trainer.model_wrapped).__name__
    res["losses"] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    res["disc_after"] = disc_check("after training")
    res["adv_finite"] = bool(torch.isfinite(captured["adv"]).all())
    res["tok_adv_abs_max"] = float(captured["tok_adv"].abs().max())
    res["resp_adv_abs_max"] = float(captured["resp_adv"].abs().max())
    res["completion_mean_length_step2"] = [
        h.get("completions/mean_length") for h in trainer.state.log_history if "completions/mean_length" in h
    ]
    torch.save(captured, work / f"adv-{ns.tag}.pt")
    (work / f"result-{ns.tag}.json").write_text(json.dumps(res, indent=1))
    log(f"zero3 worker {ns.tag}: {json.dumps(res)}")


def run_zero3(ns, summary: dict) -> None:
    import torch

    work = Path(ns.out) / "zero3"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    build_policy_dir(work / "policy", ns.zero3_policy, Path(ns.policy_tokenizer))
    build_discriminator(work / "disc", Path(ns.minilm), weights=ns.disc_weights)
    common = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    tail = [
        str(Path(__file__).resolve()),
        "zero3-worker",
        "--work",
        str(work),
        "--prompts",
        str(ns.zero3_prompts),
        "--gens",
        str(ns.zero3_gens),
        "--rubrics",
        str(ns.zero3_rubrics),
        "--length",
        str(ns.zero3_length),
    ]
    runs = {}
    if torch.cuda.is_available() and not ns.no_deepspeed:
        runs["zero3"] = [
            *common,
            "--config_file",
            str(ROOT / "grpo/configs/accelerate/deepspeed_zero3.yaml"),
            *tail,
            "--tag",
            "zero3",
        ]
    runs["plain"] = [
        *common,
        "--mixed_precision",
        "bf16" if torch.cuda.is_available() else "no",
        *(["--cpu"] if not torch.cuda.is_available() else []),
        *tail,
        "--tag",
        "plain",
    ]
    part: dict = {"commands": {k: " ".join(v) for k, v in runs.items()}}
    summary["zero3"] = part
    for tag, cmd in runs.items():
        log(f"zero3: launching {tag}")
        t0 = time.time()
        p = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=ns.zero3_timeout,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        )
        (Path(ns.report or ns.out) / f"zero3-{tag}.log").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
        part[f"{tag}_rc"], part[f"{tag}_wall_s"] = p.returncode, round(time.time() - t0, 1)
        if p.returncode:
            log(f"zero3 {tag} failed rc={p.returncode}:\n{p.stderr[-3000:]}")
            continue
        part[tag] = json.loads((work / f"result-{tag}.json").read_text())
    if (work / "adv-plain.pt").is_file() and (work / "adv-zero3.pt").is_file():
        a, b = torch.load(work / "adv-zero3.pt"), torch.load(work / "adv-plain.pt")
        part["same_completions"] = bool(torch.equal(a["completion_ids"], b["completion_ids"]))
        m = a["mask"].bool()
        for k in ("adv", "tok_adv", "resp_adv", "relevance"):
            x, y = a[k], b[k]
            if k in ("adv", "tok_adv"):
                x, y = x[m], y[m]
            part[f"{k}_max_abs_diff"] = float((x - y).abs().max())
            part[f"{k}_allclose"] = bool(torch.allclose(x, y, atol=1e-6, rtol=1e-5))
            part[f"{k}_equal"] = bool(torch.equal(x, y))
        part["adv_shape"] = list(a["adv"].shape)


# ------------------------------------------------------------------------------------------------ B. paper shape


class ScorerProfile:
    """Synchronised time of the scorer's phases (wrapping its methods and the projection functions)."""

    def __init__(self, scorer):
        import discriminator.scoring as scoring

        self.t: dict[str, float] = {}
        self.scoring = scoring
        wrap = self._wrap
        scorer.encoder.tokenize_responses = wrap("tokenize", scorer.encoder.tokenize_responses)
        scorer._offsets_for = wrap("policy_offsets", scorer._offsets_for)
        scorer._windows = wrap("windows", scorer._windows)
        scorer.model.forward = wrap("forward", scorer.model.forward, gpu=True)
        self.scorer = scorer
        self._saved = (scoring.tokens_to_chars, scoring.chars_to_tokens)
        scoring.tokens_to_chars = wrap("projection", scoring.tokens_to_chars)
        scoring.chars_to_tokens = wrap("projection", scoring.chars_to_tokens)

    def _wrap(self, name, fn, gpu=False):
        def inner(*a, **k):
            if gpu:
                sync()
            t0 = time.perf_counter()
            r = fn(*a, **k)
            if gpu:
                sync()
            self.t[name] = self.t.get(name, 0.0) + time.perf_counter() - t0
            return r

        return inner

    def restore(self):
        self.scoring.tokens_to_chars, self.scoring.chars_to_tokens = self._saved
        sc = self.scorer  # drop the instance wrappers: the class / module attributes show through again
        del sc.encoder.tokenize_responses, sc._offsets_for, sc._windows, sc.model.forward


def paper_arm(ns, name: str, rtt_beta: float, deadline: float) -> dict:
    import torch
    from transformers import LlamaForCausalLM

    from grpo.dataset import build_prompt_dataset

    cuda = torch.cuda.is_available()
    tok = policy_tokenizer(Path(ns.policy_tokenizer))
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = LlamaForCausalLM._from_config(
            policy_config(ns.policy, tok), dtype=torch.bfloat16 if cuda else torch.float32
        )
    n_params = sum(p.numel() for p in model.parameters())
    per_device, accum = ns.per_device, ns.accum
    spg = accum * ns.optimizer_steps_per_rl
    prompts_per_round = per_device * spg // ns.gens
    rl_steps = 1 + ns.repeats
    items = rubric_items(prompts_per_round * rl_steps, ns.rubrics)
    cls = make_trainer_class()
    cls.fixed_length, cls.fixed_source = ns.length, ns.completions
    args = trainer_args(
        Path(ns.out) / f"paper-{name}",
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accum,
        steps_per_generation=spg,
        num_generations=ns.gens,
        max_completion_length=ns.length,
        max_steps=rl_steps * ns.optimizer_steps_per_rl,
        bf16=cuda,
        use_cpu=not cuda,
        gradient_checkpointing=ns.gradient_checkpointing,
        rtt_beta=rtt_beta,
        discriminator_path=str(Path(ns.out) / "paper-disc") if rtt_beta else None,
        discriminator_token_budget=ns.token_budget,
        dataloader_drop_last=True,
    )
    timer = StepTimer(deadline=deadline, min_steps=2 * ns.optimizer_steps_per_rl)
    trainer = cls(
        model,
        args=args,
        train_dataset=build_prompt_dataset(items),
        processing_class=tok,
        judge=HashJudge(0.9),
        callbacks=[timer],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    disc_calls: list[float] = []
    stats = []
    if rtt_beta:
        inner = trainer.relevance

        def timed_relevance(*a, **k):
            sync()
            t0 = time.perf_counter()
            r = inner(*a, **k)
            sync()
            disc_calls.append(time.perf_counter() - t0)
            s = trainer.scorer.last_stats  # noqa: F821 - called during trainer.train(), before the del below
            stats.append(
                {
                    "sequences": s.sequences,
                    "batches": s.batches,
                    "real_tokens": s.real_tokens,
                    "processed_tokens": s.processed_tokens,
                }
            )
            return r

        trainer.relevance = timed_relevance
    log(
        f"paper {name}: policy {ns.policy} {n_params / 1e9:.2f}B, {per_device} x {accum} accum, "
        f"steps_per_generation {spg}, {prompts_per_round} prompts x {ns.gens} per round, {ns.length} tokens, "
        f"{ns.rubrics} rubrics, {rl_steps} RL steps"
    )
    trainer.train()
    k = ns.optimizer_steps_per_rl
    n_rl = len(timer.end) // k
    rl_times = [timer.end[(i + 1) * k - 1] - timer.begin[i * k] for i in range(n_rl)]
    res = {
        "policy_params": n_params,
        "rl_step_s": rl_times,
        "timed_rl_step_s": rl_times[1:],
        "median_rl_step_s": statistics.median(rl_times[1:]) if len(rl_times) > 1 else None,
        "completions_per_rl_step": per_device * spg,
        "tokens_per_completion": ns.length,
        "optimizer_steps_per_rl_step": k,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
    }
    if rtt_beta:
        res["discriminator_s"] = disc_calls
        res["median_discriminator_s"] = statistics.median(disc_calls[1:]) if len(disc_calls) > 1 else None
        res["scoring_stats"] = stats[-1] if stats else None
        res["rtt_time_logs"] = {
            key: [h[key] for h in trainer.state.log_history if key in h]
            for key in ("rtt/time/discriminator", "rtt/time/advantage", "rtt/time/judge")
        }
    del trainer, model
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return res


def scoring_pairs(texts: list[str], ids: list[list[int]], n_rubrics: int):
    """``(criteria, responses, token-id rows)``: every response paired with ``n_rubrics`` rubric texts, one id list
    per pair, as the trainer builds them."""
    crit = [RUBRIC_TEXTS[k % len(RUBRIC_TEXTS)] for _ in ids for k in range(n_rubrics)]
    resp = [t for t in texts for _ in range(n_rubrics)]
    rows = [list(r) for r in ids for _ in range(n_rubrics)]
    return crit, resp, rows


def scorer_sweep(ns, budgets: list[int]) -> dict:
    """One micro-batch's (response, rubric) pairs scored outside the trainer: text vs random completions, at
    several token budgets (best of 2 after a warm-up)."""
    import torch

    from grpo.frozen import load_frozen_scorer

    tok = policy_tokenizer(Path(ns.policy_tokenizer))
    g = torch.Generator().manual_seed(1)
    corpus = torch.tensor(corpus_ids(tok) * 2)
    starts = torch.randint(len(corpus) - ns.length, (ns.per_device,), generator=g).tolist()
    pool = torch.tensor(completion_pool(tok))
    sources = {
        "text": [corpus[s : s + ns.length].tolist() for s in starts],
        "random": pool[torch.randint(len(pool), (ns.per_device, ns.length), generator=g)].tolist(),
    }
    out = {}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for b in budgets:
        scorer = load_frozen_scorer(str(Path(ns.out) / "paper-disc"), device=device, token_budget=b)
        for src, ids in sources.items():
            texts = tok.batch_decode(ids, skip_special_tokens=True)
            crit, resp, rows = scoring_pairs(texts, ids, ns.rubrics)
            times = []
            for _ in range(3):
                sync()
                t0 = time.perf_counter()
                scorer.score_for_policy(crit, resp, policy_tokenizer=tok, response_token_ids=rows)
                sync()
                times.append(time.perf_counter() - t0)
            st = scorer.last_stats
            out[f"{src}@{b}"] = {
                "s": times,
                "best_s": min(times[1:]),
                "pairs": len(crit),
                "sequences": st.sequences,
                "batches": st.batches,
                "disc_tokens": st.real_tokens,
                "efficiency": round(st.efficiency, 3),
            }
            if b == budgets[0]:
                # where the time goes: one more call with every phase synchronised (this serialises the batches,
                # so its total is above the plain calls')
                prof = ScorerProfile(scorer)
                sync()
                t0 = time.perf_counter()
                scorer.score_for_policy(crit, resp, policy_tokenizer=tok, response_token_ids=rows)
                sync()
                total = time.perf_counter() - t0
                prof.restore()
                phases = {k: round(v, 4) for k, v in sorted(prof.t.items())}
                phases["other"] = round(total - sum(prof.t.values()), 4)
                out[f"{src}@{b}"]["profiled_total_s"] = round(total, 4)
                out[f"{src}@{b}"]["phases_s"] = phases
        del scorer
    return out


def run_paper(ns, summary: dict) -> None:
    build_discriminator(Path(ns.out) / "paper-disc", Path(ns.minilm), weights=ns.disc_weights)
    part: dict = {
        "shape": {
            k: getattr(ns, k)
            for k in (
                "policy",
                "length",
                "rubrics",
                "gens",
                "per_device",
                "accum",
                "optimizer_steps_per_rl",
                "repeats",
                "token_budget",
                "gradient_checkpointing",
            )
        }
    }
    summary["paper"] = part
    end = T0 + ns.budget_s
    for name, beta in (("grpo", 0.0), ("rtt", 0.5)):
        remaining = end - time.time()
        # each arm gets its share of what is left; the RTT arm last (it needs the longer time)
        deadline = time.time() + (remaining * 0.45 if name == "grpo" else remaining - 25)
        part[name] = paper_arm(ns, name, beta, deadline)
        log(f"paper {name}: {json.dumps(part[name])}")
        write_summary(ns, summary)
    g, r = part["grpo"]["median_rl_step_s"], part["rtt"]["median_rl_step_s"]
    if g and r:
        part["ratio_rtt_over_grpo"] = r / g
        d = part["rtt"]["median_discriminator_s"]
        part["discriminator_share_of_rtt_step"] = d / r if d else None
    write_summary(ns, summary)
    if time.time() < end - 15:
        try:
            part["scorer_sweep"] = scorer_sweep(ns, [ns.token_budget, 4 * ns.token_budget])
        except Exception as exc:  # noqa: BLE001 - an extra; the main figures are already written
            part["scorer_sweep_error"] = repr(exc)


def host_cost(ns) -> dict:
    """The scorer's host-side work at paper shape (``per_device`` responses x ``rubrics`` rubrics x ``length``
    tokens, text and random completions) with the model forward replaced by zero logits: tokenisation, offsets,
    windows, batching and projection - what a GPU cannot speed up. Runs anywhere (one thread)."""
    import torch

    from grpo.frozen import load_frozen_scorer

    torch.set_num_threads(1)
    disc = Path(ns.out) / "host-disc"
    if not disc.is_dir():
        build_discriminator(disc, Path(ns.minilm))
    scorer = load_frozen_scorer(str(disc), device="cpu", token_budget=ns.token_budget)

    class _Out:
        pass

    def zero_logits(input_ids=None, attention_mask=None, **_):
        o = _Out()
        o.logits = torch.zeros(*input_ids.shape, 1)
        return o

    scorer.model.forward = zero_logits
    tok = policy_tokenizer(Path(ns.policy_tokenizer))
    g = torch.Generator().manual_seed(1)
    corpus = corpus_ids(tok) * 2
    pool = torch.tensor(completion_pool(tok))
    sources = {
        "text": [
            corpus[s : s + ns.length]
            for s in torch.randint(len(corpus) - ns.length, (ns.per_device,), generator=g).tolist()
        ],
        "random": pool[torch.randint(len(pool), (ns.per_device, ns.length), generator=g)].tolist(),
    }
    out = {}
    for src, ids in sources.items():
        texts = tok.batch_decode(ids, skip_special_tokens=True)
        crit, resp, rows = scoring_pairs(texts, ids, ns.rubrics)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            scorer.score_for_policy(crit, resp, policy_tokenizer=tok, response_token_ids=rows)
            times.append(time.perf_counter() - t0)
        out[src] = {
            "best_s": min(times),
            "s": times,
            "pairs": len(crit),
            "windows": scorer.last_stats.sequences,
            "disc_tokens": scorer.last_stats.real_tokens,
        }
        log(f"host {src}: best {min(times):.3f} s for {len(crit)} pairs ({scorer.last_stats.sequences} windows)")
    return out


# ------------------------------------------------------------------------------------------------ driver


def environment() -> dict:
    import importlib.metadata as md

    import torch

    env = {"python": sys.version.split()[0], "cuda": torch.cuda.is_available()}
    for name in ("torch", "transformers", "accelerate", "trl", "datasets", "deepspeed", "pyarrow", "peft"):
        try:
            env[name] = md.version(name)
        except md.PackageNotFoundError:
            env[name] = None
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_mem_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


def write_summary(ns, summary: dict) -> None:
    summary["elapsed_s"] = round(time.time() - T0, 1)
    Path(ns.report or ns.out, "summary.json").write_text(json.dumps(summary, indent=1))


def print_table(summary: dict) -> None:
    z, p = summary.get("zero3", {}), summary.get("paper", {})
    print("\n=== summary ===")
    print("env:", json.dumps(summary.get("env")))
    for tag in ("zero3", "plain"):
        r = z.get(tag)
        if r:
            d = r.get("disc_in_step", {})
            print(
                f"{tag}: deepspeed={r['deepspeed']} stage={r['zero_stage']} engine={r['engine']} "
                f"steps={r['global_step']} "
                f"losses={r['losses']} disc numel {d.get('numel')}/{d.get('expected_numel')} partitioned "
                f"{d.get('partitioned_params')} devices {d.get('devices')}; policy partitioned "
                f"{r['policy_in_step']['partitioned_params']}/{r['policy_in_step']['params']} local numel "
                f"{r['policy_in_step']['local_numel']} of {r['policy_in_step']['full_numel']}; "
                f"adv finite {r['adv_finite']}"
            )
    for k in ("same_completions", "adv_max_abs_diff", "adv_allclose", "tok_adv_max_abs_diff", "tok_adv_allclose"):
        if k in z:
            print(f"  {k}: {z[k]}")
    for arm in ("grpo", "rtt"):
        a = p.get(arm)
        if a:
            print(f"{arm}: RL steps {[round(x, 2) for x in a['rl_step_s']]} median timed {a['median_rl_step_s']}")
    if "ratio_rtt_over_grpo" in p:
        print(
            f"ratio RTT/GRPO {p['ratio_rtt_over_grpo']:.3f}x, "
            f"discriminator share {p['discriminator_share_of_rtt_step']:.3f}"
        )
    if "scorer_sweep" in p:
        for k, v in p["scorer_sweep"].items():
            print(
                f"scorer {k}: best {v['best_s']:.3f} s, {v['pairs']} pairs, {v['sequences']} windows, "
                f"{v['batches']} batches, {v['disc_tokens']} tokens, phases {v.get('phases_s')}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "what",
        nargs="?",
        choices=("all", "zero3", "paper", "host", "zero3-worker"),
        help="default: all on a GPU machine, host elsewhere (what `make bench` runs)",
    )
    ap.add_argument("--out", default="runs/bench-gpu", help="work folder (models, trainer outputs)")
    ap.add_argument("--report", default=None, help="where summary.json and the worker logs go (default --out)")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes (CPU): checks the harness, not the figures")
    ap.add_argument("--minilm", default=None, help="folder with all-MiniLM-L6-v2's config and tokenizer")
    ap.add_argument("--policy-tokenizer", default=None, help="folder with the SmolLM2 tokenizer")
    ap.add_argument("--disc-weights", choices=("random", "real"), default="random")
    ap.add_argument("--no-deepspeed", action="store_true")
    ap.add_argument("--budget-s", type=float, default=240.0, help="wall-clock budget of the whole command")
    # A
    ap.add_argument("--zero3-policy", default="small")
    ap.add_argument("--zero3-prompts", type=int, default=2)
    ap.add_argument("--zero3-gens", type=int, default=4)
    ap.add_argument("--zero3-rubrics", type=int, default=5)
    ap.add_argument("--zero3-length", type=int, default=700)
    ap.add_argument("--zero3-timeout", type=float, default=100)
    # B
    ap.add_argument("--policy", default="smollm2-1.7b", choices=sorted(POLICY_SHAPES))
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--rubrics", type=int, default=20)
    ap.add_argument("--gens", type=int, default=8)
    ap.add_argument("--per-device", type=int, default=8)
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--optimizer-steps-per-rl", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--token-budget", type=int, default=16384)
    ap.add_argument(
        "--completions",
        choices=("text", "random"),
        default="text",
        help="fixed completions: slices of English prose (README/docs) or random whole-character ids",
    )
    ap.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True)
    # worker
    ap.add_argument("--work")
    ap.add_argument("--tag")
    ap.add_argument("--prompts", type=int)
    ns = ap.parse_args()
    if ns.what is None:
        import torch

        ns.what = "all" if torch.cuda.is_available() else "host"
    if ns.what == "zero3-worker":
        zero3_worker(ns)
        return
    if ns.cpu_smoke:
        ns.policy, ns.zero3_policy, ns.length, ns.rubrics = "tiny", "tiny", 96, 4
        ns.per_device, ns.gens, ns.repeats, ns.zero3_length, ns.zero3_rubrics = 4, 4, 1, 80, 3
        ns.token_budget, ns.gradient_checkpointing = 1024, False
    ns.minilm = ns.minilm or str(minilm_dir())
    ns.policy_tokenizer = ns.policy_tokenizer or str(policy_tokenizer_dir())
    Path(ns.out).mkdir(parents=True, exist_ok=True)
    Path(ns.report or ns.out).mkdir(parents=True, exist_ok=True)
    summary: dict = {"env": environment(), "argv": sys.argv[1:]}
    log(f"env {json.dumps(summary['env'])}")
    write_summary(ns, summary)
    if ns.what == "host":
        summary["host"] = host_cost(ns)
        write_summary(ns, summary)
        return
    if ns.what in ("all", "zero3"):
        try:
            run_zero3(ns, summary)
        except Exception as exc:  # noqa: BLE001 - keep going to part B, record what broke
            summary.setdefault("zero3", {})["error"] = repr(exc)
            log(f"zero3 error: {exc!r}")
        write_summary(ns, summary)
    if ns.what in ("all", "paper"):
        run_paper(ns, summary)
    write_summary(ns, summary)
    print_table(summary)


if __name__ == "__main__":
    main()
