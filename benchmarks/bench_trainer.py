"""RTT-GRPO overhead, side by side in one run.

A. Trainer step time: RTT-GRPO (``rtt_beta=0.5``, intra) vs plain GRPO (``rtt_beta=0``: the same trainer,
   no discriminator) on the same policy, data and seed, through the real TRL loop; the RTT step is split into
   TRL's generate+score (which includes the rubric verdicts, needed by both), discriminator scoring and
   advantage math. Policy: SmolLM2-135M-Instruct (offline GGUF, ``--policy tiny`` for a random 2-layer
   model); discriminator: the bundled MiniLM-L6 with a one-logit head (speed does not depend on the head).
   Data: IFEval prompts (rule-checked rubrics). The first step (rule checker / kernel warm-up) is dropped.
B. Advantage computation: the vectorised :func:`grpo.advantages.rtt_advantages` over the whole batch vs a
   Python loop over prompt groups (the same function on each group) and vs a loop over (response, rubric)
   rows; results checked equal. One torch thread by default (least noise on a shared box).

Run: ``.venv/bin/python benchmarks/bench_trainer.py [--policy smollm2|tiny] [--steps 4] [--groups 64]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("NLTK_DATA", str(ROOT.parent / "shared" / "nltk_data"))


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


# ------------------------------------------------------------------------------------------------ A. trainer


def minilm_discriminator(path: Path) -> Path:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from discriminator.config import default_backbone

    src = default_backbone()
    model = AutoModelForTokenClassification.from_pretrained(src, num_labels=1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(src).save_pretrained(path)
    return path


def run_trainer(
    policy: str, disc: str | None, beta: float, steps: int, out: Path, n_prompts: int, gens: int, max_len: int
) -> dict[str, float]:
    from grpo.dataset import build_prompt_dataset, load_items
    from grpo.rtt_grpo_config import RTTGRPOConfig
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer

    items = load_items("ifeval", limit=n_prompts)
    args = RTTGRPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=n_prompts * gens,
        num_generations=gens,
        max_completion_length=max_len,
        max_steps=steps,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        seed=0,
        rtt_beta=beta,
        discriminator_path=disc,
        loss_type="grpo",
        learning_rate=1e-6,
        disable_tqdm=True,
    )
    trainer = RTTGRPOTrainer(policy, args=args, train_dataset=build_prompt_dataset(items))
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # keep the benchmark's stdout to its tables
    trainer.train()
    logs = [h for h in trainer.state.log_history if "step_time" in h][1:]  # drop the warm-up step
    keys = (
        "step_time",
        "rtt/time/trl_generate_and_score",
        "rtt/time/judge",
        "rtt/time/discriminator",
        "rtt/time/advantage",
        "completions/mean_length",
    )
    return {k: statistics.mean(h.get(k, 0.0) for h in logs) for k in keys}


def bench_trainer(ns) -> None:
    if ns.policy == "tiny":
        from tests.helpers.tiny import tiny_causal_lm

        policy = str(tiny_causal_lm(Path(tempfile.mkdtemp(prefix="bench-policy-"))))
    else:
        from rubrics.offline_models import smollm2_dir

        policy = str(smollm2_dir())
    disc = str(minilm_discriminator(Path(tempfile.mkdtemp(prefix="bench-disc-"))))
    out = Path(tempfile.mkdtemp(prefix="bench-trainer-"))
    kw = dict(steps=ns.steps, n_prompts=ns.prompts, gens=ns.generations, max_len=ns.max_len)
    grpo = run_trainer(policy, None, 0.0, out=out / "grpo", **kw)
    rtt = run_trainer(policy, disc, 0.5, out=out / "rtt", **kw)
    b = ns.prompts * ns.generations
    rows = []
    for name, r in (("GRPO (rtt_beta=0)", grpo), ("RTT-GRPO (rtt_beta=0.5)", rtt)):
        st = r["step_time"]
        rows.append(
            [
                name,
                f"{st:.2f}",
                f"{r['rtt/time/judge']:.3f} ({100 * r['rtt/time/judge'] / st:.1f}%)",
                f"{r['rtt/time/discriminator']:.3f} ({100 * r['rtt/time/discriminator'] / st:.1f}%)",
                f"{1000 * r['rtt/time/advantage']:.2f} ms",
                f"{r['completions/mean_length']:.0f}",
            ]
        )
    table(
        f"A. step time, {ns.policy} policy, MiniLM discriminator, {b} completions/step "
        f"({ns.prompts} IFEval prompts x {ns.generations}), max {ns.max_len} tokens, mean of steps 2..{ns.steps}",
        ["trainer", "step s", "judge s (share)", "discriminator s (share)", "advantage", "mean len"],
        rows,
    )
    extra = rtt["rtt/time/discriminator"] + rtt["rtt/time/advantage"]
    print(
        f"overhead ratio, separate runs (RTT step / GRPO step, noisy on a shared box): "
        f"{rtt['step_time'] / grpo['step_time']:.3f}x"
    )
    print(
        f"overhead ratio, same RTT steps (step / (step - discriminator - advantage)): "
        f"{rtt['step_time'] / (rtt['step_time'] - extra):.3f}x  (RTT-only work {extra:.2f} s of "
        f"{rtt['step_time']:.1f} s)"
    )


# ------------------------------------------------------------------------------------------------ B. advantages


def loop_over_groups(s, w, mask, gid, rm, eps=1e-6):
    """A Python loop over prompt groups, the same (vectorised) math inside each group: what the per-group
    loop of an RL framework costs."""
    import torch

    from grpo.advantages import rtt_advantages

    out = torch.zeros(mask.shape, dtype=w.dtype)
    for g in gid.unique().tolist():
        idx = (gid == g).nonzero().squeeze(1)
        out[idx] = rtt_advantages(s[idx], w[idx], mask[idx], gid[idx], rubric_mask=rm[idx], beta=0.5, eps=eps).adv
    return out


def loop_over_rows(s, w, mask, gid, rm, eps=1e-6):
    """Per (response, rubric) row: the straightforward double loop."""
    import torch

    from grpo.advantages import group_advantages, response_rewards

    ra = group_advantages(response_rewards(s, rm, None, "aon").to(w.dtype), gid, eps=eps)
    out = ra.unsqueeze(-1).repeat(1, mask.shape[1])
    for i in range(s.shape[0]):
        toks = mask[i].nonzero().squeeze(1)
        zs = []
        for k in range(s.shape[1]):
            if not rm[i, k]:
                continue
            x = float(s[i, k]) * w[i, k, toks]
            if len(toks) == 0 or bool(x.max() <= x.min()):
                zs.append(torch.zeros_like(x))
            else:
                zs.append((x - x.mean()) / (x.std(unbiased=False) + eps))
        if zs and len(toks):
            out[i, toks] += 0.5 * torch.stack(zs).mean(0)
    return out


def bench_advantages(ns) -> None:
    import torch

    from grpo.advantages import rtt_advantages

    g, n, r, t = ns.groups, ns.generations_adv, ns.rubrics, ns.tokens
    gen = torch.Generator().manual_seed(0)
    b = g * n
    gid = torch.arange(g).repeat_interleave(n)
    lengths = torch.randint(t // 8, t + 1, (b,), generator=gen)
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    k = torch.randint(1, r + 1, (g,), generator=gen)[gid]
    rm = torch.arange(r).unsqueeze(0) < k.unsqueeze(1)
    s = torch.where(torch.rand(b, r, generator=gen) < 0.6, 1, -1).to(torch.int8) * rm
    w = torch.rand(b, r, t, generator=gen)

    def timed(fn, reps):
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            res = fn()
            best = min(best, time.perf_counter() - t0)
        return best, res

    t_vec, ours = timed(lambda: rtt_advantages(s, w, mask, gid, rubric_mask=rm, beta=0.5).adv, 3)
    t_grp, per_group = timed(lambda: loop_over_groups(s, w, mask, gid, rm), 2)
    t_row, per_row = timed(lambda: loop_over_rows(s, w, mask, gid, rm), 1)
    m = mask
    assert torch.allclose(ours * m, per_group * m, atol=1e-4), "per-group loop disagrees"
    assert torch.allclose(ours * m, per_row * m, atol=1e-4), "per-row loop disagrees"
    rows = [
        ["vectorised (ours)", f"{1000 * t_vec:.1f}", "1.00x"],
        ["loop over groups", f"{1000 * t_grp:.1f}", f"{t_grp / t_vec:.2f}x"],
        ["loop over (response, rubric)", f"{1000 * t_row:.1f}", f"{t_row / t_vec:.2f}x"],
    ]
    table(
        f"B. advantage computation, {g} groups x {n} responses, up to {r} rubrics, {t} tokens (float32, CPU)",
        ["implementation", "ms (best)", "time / ours"],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", choices=("smollm2", "tiny"), default="smollm2")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--max-len", type=int, default=48)
    ap.add_argument("--groups", type=int, default=64)
    ap.add_argument("--generations-adv", type=int, default=8)
    ap.add_argument("--rubrics", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--skip-trainer", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least noise on a shared box)")
    ns = ap.parse_args()
    import torch

    torch.set_num_threads(ns.threads)
    bench_advantages(ns)
    if not ns.skip_trainer:
        bench_trainer(ns)


if __name__ == "__main__":
    main()
