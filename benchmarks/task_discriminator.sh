#!/usr/bin/env bash
# A MiniLM discriminator for a learning-experiment task, trained by the project's own data and training code on
# the task's *train* prompts (what a user does: train the discriminator on responses of their own policy to their
# own instructions; the held-out prompts are never seen): the task's items as JSONL, responses sampled from the
# benchmark's policy as in RL (temperature 1, the RL completion budget), passing rules broken and failing ones
# repaired by the programmatic edits, plus template pairs of the same items; MiniLM trained on the union, validated
# on 10 % of the items. Resumable: every step reuses what an earlier run finished.
#
#   CONFIG=cpu OUT=runs/task-disc-cpu bash benchmarks/task_discriminator.sh [--set key=value ...]
#   (then: --set discriminator=$OUT/disc/model for the experiment's discriminator arm)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CONFIG=${CONFIG:-cpu}; OUT=${OUT:-runs/task-disc-$CONFIG}
K=${K:-8}; STEPS=${STEPS:-600}; BATCH=${BATCH:-16}; MAXLEN=${MAXLEN:-160}
export OMP_WAIT_POLICY=PASSIVE TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export NLTK_DATA=${NLTK_DATA:?set NLTK_DATA to an NLTK data folder (punkt_tab, stopwords) for the rule checkers, e.g. NLTK_DATA=/path/to/nltk_data}
rtt() { "$PY" -c 'from flows.cli import main; main()' "$@"; }
mkdir -p "$OUT"
t0=$(date +%s)
# 1. the task's train items (and the policy / budget the benchmark trains with)
read -r POLICY TOKENS TEMP < <("$PY" - "$CONFIG" "$OUT" "$@" <<'PYEOF'
import sys
from grpo.experiment.runner import model_path
from grpo.experiment.config import load_experiment
from grpo.experiment.task import build_task
from rubrics.io import write_jsonl

args = sys.argv[3:]
cfg = load_experiment(sys.argv[1], [a for a in args if a != "--set"])
train, _ = build_task(cfg.task)
write_jsonl(f"{sys.argv[2]}/items.jsonl", [it.model_dump(mode="json") for it in train])
print(model_path(cfg), cfg.max_completion_length, cfg.temperature)
PYEOF
)
echo "policy $POLICY, $TOKENS tokens, temperature $TEMP; items: $OUT/items.jsonl"
# 2. policy pairs and template pairs of the same items (one item-level split for both)
rtt data negatives -i "$OUT/items.jsonl" --positives-from "$POLICY" -k "$K" --max-new-tokens "$TOKENS" \
    --temperature "$TEMP" -o "$OUT/policy" --val-frac 0.1 --test-frac 0
rtt data negatives -i "$OUT/items.jsonl" -o "$OUT/template" --val-frac 0.1 --test-frac 0
"$PY" - "$OUT" <<'PYEOF'
import sys
from discriminator.data.schema import read_rows, write_rows
r = sys.argv[1]
rows = read_rows(f"{r}/policy/spans.parquet") + read_rows(f"{r}/template/spans.parquet")
val_items = {x.item_id for x in rows if x.split == "val"}
rows = [x.model_copy(update={"split": "val" if x.item_id in val_items else "train"}) for x in rows]
write_rows(f"{r}/train.parquet", rows)
write_rows(f"{r}/val.parquet", [x for x in rows if x.split == "val"])  # the held-out items, for rtt disc eval
print(len(rows), "rows;", sum(x.split == "val" for x in rows), "validation rows of", len(val_items), "items")
PYEOF
# 3. MiniLM on the union (resumes an interrupted run, skips a finished one)
if [ ! -f "$OUT/disc/model/rtt_discriminator.json" ]; then
  extra=(); if ls -d "$OUT"/disc/checkpoint-* >/dev/null 2>&1; then extra=(--resume); fi
  rtt disc train -c discriminator/configs/minilm.yaml --data "$OUT/train.parquet" -o "$OUT/disc" \
      --max-steps "$STEPS" --eval-steps 100 --batch-size "$BATCH" --max-length "$MAXLEN" "${extra[@]}"
fi
rtt disc eval -m "$OUT/disc/model" --data "$OUT/val.parquet" --test-all -o "$OUT/eval" --baselines all_relevant,lexical
echo "done in $(( $(date +%s) - t0 )) s; load: $(uptime)"
