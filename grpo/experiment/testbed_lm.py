"""The testbed policy: a tiny causal LM the project pretrains itself - a fast test of the credit mechanism, not a
claim about real models.

A 2-layer Llama (hidden 128 by default) with a byte-level BPE tokenizer (``tokenizers``) trained on the
testbed's own text (:mod:`grpo.experiment.testbed_corpus`: the learning task's prompts over a small vocabulary,
answered by a toy grammar that ignores the rubrics), so an RL step of the learning experiment costs a fraction of a
second on a CPU core and arms x seeds fit in the background on 2 cores. Saved as a normal Hugging Face folder
(config, weights, tokenizer, chat template ``<|user|>...</s><|assistant|>``), so the project's real trainer and
experiment machinery load it like any policy.

Built on demand and cached (:func:`ensure_testbed_lm`): deterministic from ``seed``; staged in
``<path>.partial`` with a checkpoint every ``ckpt_every`` steps (an interrupted build resumes), renamed into
place when done; a lock lets one process build while the others wait.

CLI: ``python -m grpo.experiment.testbed_lm [--out runs/testbed-lm] [--steps N] ...`` builds (or reuses) the folder.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from grpo.experiment.task import TaskConfig
from rubrics.schema import RubricItem

logger = logging.getLogger(__name__)

DEFAULT_PATH = "runs/testbed-lm"
SPECIALS = ["<pad>", "</s>", "<s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def pretrain_items(cfg: TaskConfig, n: int, seed: int) -> Iterator[RubricItem]:
    """``n`` prompts over the whole testbed vocabulary (random topic, keyword, target): the pretraining
    prompts. They use the same wording as the task's; their responses ignore the rubrics (see module doc)."""
    rng = random.Random(seed)
    from grpo.experiment.task import EXTRA_WORDS, FORBIDDEN, make_item
    from grpo.experiment.testbed_corpus import KEYWORDS, TOPIC_ADJ, TOPIC_NOUNS

    adjs, nouns = TOPIC_ADJ, TOPIC_NOUNS
    targets = ["no_comma", "keyword", "forbidden", "lowercase"]
    for _ in range(n):
        topic = f"the {rng.choice(adjs)} {rng.choice(nouns)}"
        idx = rng.randrange(len(EXTRA_WORDS) * len(FORBIDDEN))
        yield make_item(idx, topic, rng.choice(KEYWORDS), rng.choice(targets), cfg, "train")


def pretrain_pairs(cfg: TaskConfig, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` deterministic (prompt, response) pretraining pairs."""
    from grpo.experiment.task import EXTRA_WORDS
    from grpo.experiment.testbed_corpus import response_for

    rng = random.Random(seed + 1)
    return [(it.prompt, response_for(it, rng, EXTRA_WORDS)) for it in pretrain_items(cfg, n, seed)]


@dataclass(frozen=True)
class TestbedLMSpec:
    """What determines the built model (written to ``testbed.json``; a folder built otherwise is rebuilt)."""

    seed: int = 0
    pairs: int = 40_000  # pretraining (prompt, response) pairs
    vocab_size: int = 1024
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    steps: int = 3000
    batch: int = 32
    lr: float = 3e-3
    min_words: int = 16  # prompt wording of the pretraining prompts (the testbed preset's task)
    ckpt_every: int = 250


def _task_cfg(spec: TestbedLMSpec) -> TaskConfig:
    return TaskConfig(min_words=spec.min_words, targets=["no_comma", "keyword", "forbidden", "lowercase"])


def build_tokenizer(texts, vocab_size: int):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts`` with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<s>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _encode(tok, pairs, max_len: int = 160):
    """Token ids of ``prompt (chat) + response + </s>`` and the index where the response starts."""
    rows = []
    for prompt, response in pairs:
        p = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        pid = tok(p, add_special_tokens=False)["input_ids"]
        rid = tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rows.append(((pid + rid)[:max_len], len(pid)))
    return rows


def _model(spec: TestbedLMSpec, tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.hidden,
        intermediate_size=2 * spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(cfg)


def build_testbed_lm(path: str | Path = DEFAULT_PATH, spec: TestbedLMSpec | None = None, log=print) -> Path:
    """Pretrain and save the testbed LM at ``path`` (staged in ``<path>.partial``, resumable); returns ``path``."""
    import torch

    spec = spec or TestbedLMSpec()
    path = Path(path)
    work = path.with_name(path.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    meta_file = work / "testbed.json"
    if meta_file.is_file() and json.loads(meta_file.read_text()) != asdict(spec):
        shutil.rmtree(work)
        work.mkdir(parents=True)
    meta_file.write_text(json.dumps(asdict(spec)))
    t0 = time.perf_counter()
    pairs = pretrain_pairs(_task_cfg(spec), spec.pairs, spec.seed)
    tok_dir = work / "tokenizer"
    if (tok_dir / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tok_dir)
    else:
        tok = build_tokenizer((p + " " + r for p, r in pairs), spec.vocab_size)
        tok.save_pretrained(tok_dir)
    rows = _encode(tok, pairs)
    torch.manual_seed(spec.seed)
    model = _model(spec, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.05, 1 - s / spec.steps))
    start = 0
    ckpt = work / "ckpt.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["step"]
        log(f"testbed LM: resuming at step {start}")
    gen = torch.Generator().manual_seed(spec.seed)
    order = torch.randperm(len(rows), generator=gen)
    per_epoch = len(rows) // spec.batch
    model.train()
    for step in range(start, spec.steps):
        e, b = divmod(step, per_epoch)
        idx = torch.randperm(len(rows), generator=torch.Generator().manual_seed(spec.seed + 1 + e)) if e else order
        batch = [rows[int(i)] for i in idx[b * spec.batch : (b + 1) * spec.batch]]
        n = max(len(ids) for ids, _ in batch)
        x = torch.full((len(batch), n), tok.pad_token_id, dtype=torch.long)
        y = torch.full((len(batch), n), -100, dtype=torch.long)
        att = torch.zeros((len(batch), n), dtype=torch.long)
        for i, (ids, p) in enumerate(batch):
            x[i, : len(ids)] = torch.tensor(ids)
            y[i, p : len(ids)] = torch.tensor(ids[p:])  # loss on the response (and its </s>) only
            att[i, : len(ids)] = 1
        loss = model(input_ids=x, attention_mask=att, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % 100 == 0:
            log(f"testbed LM: step {step + 1}/{spec.steps} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
        if (step + 1) % spec.ckpt_every == 0 and step + 1 < spec.steps:
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step + 1},
                ckpt.with_suffix(".tmp"),
            )
            os.replace(ckpt.with_suffix(".tmp"), ckpt)
    model.eval()
    final = work / "model"
    shutil.rmtree(final, ignore_errors=True)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(final)
    tok.save_pretrained(final)
    (final / "testbed.json").write_text(json.dumps(asdict(spec) | {"seconds": round(time.perf_counter() - t0, 1)}))
    if path.exists():
        shutil.rmtree(path)
    os.replace(final, path)
    shutil.rmtree(work, ignore_errors=True)
    log(f"testbed LM: saved {path} ({time.perf_counter() - t0:.0f} s)")
    return path


def _is_built(path: Path, spec: TestbedLMSpec) -> bool:
    meta = path / "testbed.json"
    if not meta.is_file() or not (path / "config.json").is_file():
        return False
    got = json.loads(meta.read_text())
    got.pop("seconds", None)
    return got == asdict(spec)


def ensure_testbed_lm(path: str | Path = DEFAULT_PATH, spec: TestbedLMSpec | None = None, log=print) -> Path:
    """``path`` holding the testbed LM of ``spec``, building it when missing (one builder; others wait)."""
    from rubrics.io import take_pid_lock

    spec, path = spec or TestbedLMSpec(), Path(path)
    lock = path.with_name(path.name + ".lock")
    while not _is_built(path, spec):
        if take_pid_lock(lock):
            try:
                if not _is_built(path, spec):
                    build_testbed_lm(path, spec, log)
            finally:
                lock.unlink(missing_ok=True)
        else:
            time.sleep(5)
    return path


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Build (or reuse) the testbed LM folder.")
    ap.add_argument("--out", default=DEFAULT_PATH)
    for f, v in asdict(TestbedLMSpec()).items():
        ap.add_argument(f"--{f.replace('_', '-')}", type=type(v), default=v)
    ns = vars(ap.parse_args(argv))
    out = ns.pop("out")
    ensure_testbed_lm(out, TestbedLMSpec(**ns))


if __name__ == "__main__":
    main()
