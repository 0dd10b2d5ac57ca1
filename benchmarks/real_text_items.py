"""Item-disjoint train / test item files for the real-text discriminator measurement (README, discriminator).

Splits the shared IFEval + MulDimIF items by a seeded hash (the same exact-proportion split as ``rtt data
negatives``) and writes ``train.jsonl`` / ``test.jsonl`` (our rubric JSONL) with at most ``--train`` / ``--test``
items each, so policy samples, pairs and training never see a test item.

Run: ``python benchmarks/real_text_items.py --out runs/real/items --train 320 --test 100``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))
if not (SHARED / "data").is_dir():
    SHARED = Path("/work/shared")

from discriminator.data.build import assign_splits  # noqa: E402
from rubrics.exporters import write_items  # noqa: E402
from rubrics.importers import import_items  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train", type=int, default=320)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-prompt-tokens",
        type=int,
        default=384,
        help="skip prompts longer than this (SmolLM2 tokens): CPU sampling time; 0 keeps all",
    )
    args = ap.parse_args()
    items = import_items(str(SHARED / "data/ifeval/input_data.jsonl"))
    items += import_items(str(SHARED / "data/muldimif/test.json"))
    split = assign_splits([it.id for it in items], args.seed, (0.8, 0.1, 0.1))
    import hashlib

    def order(it):
        return hashlib.sha256(f"{args.seed}:{it.id}".encode()).hexdigest()

    if args.max_prompt_tokens:
        from transformers import AutoTokenizer

        from rubrics.offline_models import smollm2_dir

        tok = AutoTokenizer.from_pretrained(str(smollm2_dir()))

        def fits(it):
            return (
                len(
                    tok(
                        tok.apply_chat_template(it.chat(), tokenize=False, add_generation_prompt=True),
                        add_special_tokens=False,
                    )["input_ids"]
                )
                <= args.max_prompt_tokens
            )

    else:

        def fits(it):
            return True

    train = [it for it in sorted((it for it in items if split[it.id] == "train"), key=order) if fits(it)][: args.train]
    test = [it for it in sorted((it for it in items if split[it.id] == "test"), key=order) if fits(it)][: args.test]
    assert not {i.id for i in train} & {i.id for i in test}
    args.out.mkdir(parents=True, exist_ok=True)
    write_items(args.out / "train.jsonl", train)
    write_items(args.out / "test.jsonl", test)
    print(f"{len(train)} train / {len(test)} test items (item-disjoint) -> {args.out}")


if __name__ == "__main__":
    main()
