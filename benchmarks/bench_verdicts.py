"""Rule-verdict throughput, ours vs naive, and agreement with an independent IFEval checker.

Part 1 (always): verdicts/s on the shared IFEval (541 items) and MulDimIF (1,200 items, rule rubrics only)
sets with synthetic responses (4 per item), side by side:

* naive: rebuild the checker for every (response, rubric) and evaluate row by row (loose variants per rubric);
* if-verifiable's own driver ``evaluate_instructions`` (IFEval only; it computes strict and loose together);
* ours, cold: ``compute_verdicts`` with an empty checker cache (builds included);
* ours, warm: the same call again (the steady state of an RL run: the same rubrics every step).

Part 2: agreement of our IFEval verdicts with lm-eval's vendored copy of the official checker
(``benchmarks/ifeval_reference.py``, fetched with ``pip download``), strict and loose, on programmatic
responses built to satisfy / violate each instruction, and on SmolLM2-135M-Instruct generations when
``--smollm2 N`` is given (N prompts, generated once on CPU and cached).

Run: ``.venv/bin/python benchmarks/bench_verdicts.py [--smollm2 64] [--no-agreement]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))
os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rubrics import rules  # noqa: E402
from rubrics.rules.base import evaluate, loose_variants  # noqa: E402
from rubrics.rules.muldimif import verifier_for  # noqa: E402
from rubrics.rules.synthetic import ifeval_response  # noqa: E402
from rubrics.schema import Rubric, RubricItem, RuleVerifier  # noqa: E402
from rubrics.verdicts import compute_verdicts  # noqa: E402

G = 4
MULDIMIF_RESPONSES = [
    "## Overview\n\nThe Answer Uses Capitalized Words. It Ends With A Period.\n\n### Details\n\n"
    "| Name | Value |\n|---|---|\n| Alpha | One |\n| Beta | Two |\n\nThat is all.",
    "the answer is short and lowercase without headings",
    'Here is the data:\n```json\n{"a": {"b": {"c": 1}}, "d": [1, 2]}\n```\nDone!',
    "# Title\n\n> A quoted key point.\n\n- first item\n- second item\n\n" + "word " * 160 + "end.",
    "First sentence. Second sentence! Third sentence? Fourth sentence.\n\nA second paragraph with the keyword "
    "history and the keyword government.",
    '<record id="1" type="x" lang="en"><item key="k"/></record>\nThe XML above has attributes.',
]


def ifeval_items() -> list[tuple[RubricItem, dict]]:
    out = []
    for line in (SHARED / "data" / "ifeval" / "input_data.jsonl").read_text().splitlines():
        d = json.loads(line)
        rubrics = [
            Rubric(
                id=f"{d['key']}-{k}",
                text=iid,
                verifier=RuleVerifier(
                    family="ifeval", rule_id=iid, kwargs={a: b for a, b in kw.items() if b is not None}
                ),
            )
            for k, (iid, kw) in enumerate(zip(d["instruction_id_list"], d["kwargs"]))
        ]
        out.append((RubricItem(id=str(d["key"]), prompt=d["prompt"], rubrics=rubrics, source="ifeval"), d))
    return out


def muldimif_items() -> list[RubricItem]:
    out = []
    for it in json.loads((SHARED / "data" / "muldimif" / "test.json").read_text()):
        rubrics = []
        for k, (cat, sub, text) in enumerate(it["constraints"]):
            v = verifier_for(cat, sub, text)
            if v is not None:
                rubrics.append(Rubric(id=f"{it['id']}-{k}", text=text, verifier=v))
        if rubrics:
            out.append(RubricItem(id=str(it["id"]), prompt=it["conversations"][0]["content"], rubrics=rubrics))
    return out


def ifeval_pairs(items) -> list[tuple[RubricItem, str]]:
    pairs = []
    for item, d in items:
        for g in range(G):
            j = g % len(d["instruction_id_list"])
            resp = ifeval_response(d["instruction_id_list"][j], d["kwargs"][j], d["prompt"], g % 2 == 0)
            pairs.append((item, resp or "A plain answer, with a comma."))
    return pairs


def naive(pairs, loose: bool) -> int:
    n = 0
    for item, resp in pairs:
        for r in item.rubrics:
            v = r.verifier
            rules.clear_memos()  # no sharing of text measurements between checks
            checker = rules.registry(v.family).build(v.rule_id, dict(v.kwargs), item.instruction)
            evaluate(checker, resp, loose=loose, variants=loose_variants(resp) if loose else None)
            n += 1
    return n


def ifverifiable_driver(pairs, raws) -> int:
    rules.clear_memos()
    from if_verifiable.common import evaluate_instructions
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    n = 0
    for (_, resp), d in zip(pairs, raws):
        evaluate_instructions(resp, d["instruction_id_list"], d["kwargs"], d["prompt"], INSTRUCTION_DICT)
        n += len(d["instruction_id_list"])
    return n


def timed(fn, *args, repeats: int = 2):
    """Best of ``repeats`` (the machine is shared); every run starts without per-text memos."""
    best = float("inf")
    for _ in range(repeats):
        rules.clear_memos()
        t = time.perf_counter()
        n = fn(*args)
        best = min(best, time.perf_counter() - t)
    return n, best


def ours(pairs, loose: bool, cold: bool) -> int:
    """``cold``: no built checker either (first step); warm: checkers built by an earlier step, new texts."""
    if cold:
        rules.clear_cache()
    else:
        compute_verdicts(pairs[:1], loose=loose)
    vb = compute_verdicts(pairs, loose=loose)
    return int(vb.rubric_mask.sum())


def speed_table() -> None:
    ife = ifeval_items()
    ife_pairs = ifeval_pairs(ife)
    ife_raw = [d for _, d in ife for _ in range(G)]
    mdi = muldimif_items()
    mdi_pairs = [
        (it, MULDIMIF_RESPONSES[(i + g) % len(MULDIMIF_RESPONSES)]) for i, it in enumerate(mdi) for g in range(G)
    ]
    ours(ife_pairs[:8], False, True)  # import / registry load outside the timings
    rows = []
    for name, pairs in (("IFEval", ife_pairs), ("MulDimIF", mdi_pairs)):
        for loose in (False, True):
            mode = "loose" if loose else "strict"
            n, t_naive = timed(naive, pairs, loose)
            entries = [("naive (rebuild per check, row by row)", n, t_naive)]
            if name == "IFEval" and loose:
                m, t = timed(ifverifiable_driver, pairs, ife_raw)
                entries.append(("if-verifiable evaluate_instructions (strict+loose)", m, t))
            m, t = timed(ours, pairs, loose, True)
            entries.append(("ours, cold cache (builds included)", m, t))
            rules.clear_cache()
            compute_verdicts(pairs, loose=loose)  # build every checker once (an earlier RL step)
            m, t = timed(ours, pairs, loose, False)
            entries.append(("ours, warm checker cache", m, t))
            for label, cnt, secs in entries:
                rows.append((f"{name} {mode}", label, cnt, cnt / secs, t_naive / secs * cnt / n))
    print(f"\nRule verdicts/s ({len(ife_pairs)} IFEval and {len(mdi_pairs)} MulDimIF responses, {G} per item)\n")
    print("| set / mode | method | verdicts | verdicts/s | speed-up vs naive |")
    print("|---|---|---:|---:|---:|")
    for set_mode, label, cnt, vps, ratio in rows:
        print(f"| {set_mode} | {label} | {cnt} | {vps:,.0f} | {ratio:.2f}x |")


# ------------------------------------------------------------------------------------------------ agreement


def smollm2_responses(rows: list[dict], n: int) -> list[str]:
    """Greedy SmolLM2-135M-Instruct answers to the first ``n`` IFEval prompts (cached on disk)."""
    from rubrics.offline_models import cache_root, smollm2_dir

    cache = cache_root() / f"ifeval-smollm2-{n}.jsonl"
    if cache.is_file():
        return [json.loads(x)["response"] for x in cache.read_text().splitlines()]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_dir()
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    torch.set_num_threads(2)
    out: list[str] = []
    t0 = time.perf_counter()
    for i in range(0, n, 16):
        chats = [
            tok.apply_chat_template(
                [{"role": "user", "content": r["prompt"]}], tokenize=False, add_generation_prompt=True
            )
            for r in rows[i : i + 16]
        ]
        enc = tok(chats, return_tensors="pt", padding=True)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=160, do_sample=False, pad_token_id=tok.pad_token_id)
        out += tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        print(f"  generated {len(out)}/{n} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(json.dumps({"prompt": r["prompt"], "response": o}) + "\n" for r, o in zip(rows, out)))
    return out


def agreement_table(n_smollm2: int) -> None:
    import ifeval_reference as ref

    try:
        registry = ref.load_registry()
    except Exception as exc:  # noqa: BLE001
        print(f"\nAgreement: the lm-eval reference could not be fetched ({type(exc).__name__}: {exc}); not measured.")
        return
    rows = [json.loads(x) for x in (SHARED / "data" / "ifeval" / "input_data.jsonl").read_text().splitlines()]
    sets: dict[str, list[tuple[dict, str]]] = {"programmatic (satisfy/violate each instruction)": []}
    for d in rows:
        for iid, kw in zip(d["instruction_id_list"], d["kwargs"]):
            for sat in (True, False):
                resp = ifeval_response(iid, kw, d["prompt"], sat)
                if resp is not None:
                    sets["programmatic (satisfy/violate each instruction)"].append((d, resp))
    sets["programmatic + chat wrapper (preamble line, **bold** sign-off)"] = [
        (d, f"Sure! Here is my answer:\n{resp}\n**Hope this helps, {d['key']}!**")
        for d, resp in sets["programmatic (satisfy/violate each instruction)"]
    ]
    if n_smollm2:
        gens = smollm2_responses(rows[:n_smollm2], n_smollm2)
        sets[f"SmolLM2-135M-Instruct greedy, {n_smollm2} prompts"] = list(zip(rows[:n_smollm2], gens))
    print("\nAgreement with lm-eval's vendored official IFEval checker (instruction-level verdicts)\n")
    print("| responses | mode | verdicts | agree | agreement | agreement w/o non-letter letter_frequency |")
    print("|---|---|---:|---:|---:|---:|")
    for name, pairs in sets.items():
        for loose in (False, True):
            n = agree = n_x = agree_x = 0
            mism: dict[str, int] = {}
            for d, resp in pairs:
                theirs = ref.follow(registry, d["prompt"], d["instruction_id_list"], d["kwargs"], resp, loose)
                for iid, kw, t in zip(d["instruction_id_list"], d["kwargs"], theirs):
                    v = RuleVerifier(
                        family="ifeval", rule_id=iid, kwargs={a: b for a, b in kw.items() if b is not None}
                    )
                    o = rules.check(v, resp, prompt=d["prompt"], loose=loose)
                    n += 1
                    agree += o == t
                    random_letter = iid == "keywords:letter_frequency" and not str(kw.get("letter", "a")).isalpha()
                    if not random_letter:
                        n_x += 1
                        agree_x += o == t
                    if o != t:
                        mism[iid] = mism.get(iid, 0) + 1
            print(
                f"| {name} | {'loose' if loose else 'strict'} | {n} | {agree} | {100 * agree / n:.2f}% | "
                f"{100 * agree_x / max(n_x, 1):.2f}% |"
            )
            if mism:
                print(f"|  | disagreements by rule | {mism} | | | |")
    print(
        "\nA non-letter `letter` (IFEval has '#' and '!') makes lm-eval / if-verifiable draw a random letter; the "
        "official checker and ours keep the given character (see rubrics/rules/ifverifiable.py)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smollm2", type=int, default=0, help="also compare on N SmolLM2 generations (cached)")
    ap.add_argument("--no-agreement", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    if not args.no_speed:
        speed_table()
    if not args.no_agreement:
        agreement_table(args.smollm2)


if __name__ == "__main__":
    main()
