#!/usr/bin/env bash
# Cross-source discriminator measurement (issue 20): real responses of six models (AlpacaEval outputs,
# data/model_outputs/README.md) paired with IFEval rule rubrics, broken / repaired by the programmatic edits,
# then leave-one-source-out: train without model M, test on M's pairs of unseen items, per length bucket, with
# the threshold transfer, and agreement with the rule spans on M's unedited responses. Resumable per step.
# RTT_SHARED_DIR (required) is the folder whose data/model_outputs/ holds the extracted outputs.
#   MIRROR=path/to/alpaca_eval.git bash benchmarks/transfer_goal.sh            # all six folds (GPU-sized)
#   FOLD=Meta-Llama-3-8B-Instruct STEPS=100 BATCH=8 LEN=256 MAX_TRAIN=2000 MAX_TEST=160 bash benchmarks/transfer_goal.sh
#                                                                              # one fold, CPU-sized
set -euo pipefail
PY=${PY:-.venv/bin/python}; R=${R:-runs/transfer}
rtt() { "$PY" -c 'from flows.cli import main; main()' "$@"; }   # this checkout's CLI (not an installed copy's)
N=${N:-400}; STEPS=${STEPS:-600}; FOLD=${FOLD:-}; BATCH=${BATCH:-32}; LEN=${LEN:-512}
MAX_TRAIN=${MAX_TRAIN:-}; MAX_TEST=${MAX_TEST:-}
export RTT_SHARED_DIR=${RTT_SHARED_DIR:?set RTT_SHARED_DIR to the folder whose data/model_outputs/ holds (or gets) the AlpacaEval outputs}
SHARED=$RTT_SHARED_DIR
MODELS=(Meta-Llama-3-8B-Instruct Mistral-7B-Instruct-v0.2 Qwen1.5-7B-Chat gemma-7b-it tulu-2-dpo-7b phi-2-dpo)
if [ ! -f "$SHARED/data/model_outputs/alpaca_eval_outputs.jsonl.gz" ]; then
  $PY benchmarks/transfer_data.py extract --mirror "${MIRROR:?set MIRROR to a git directory of tatsu-lab/alpaca_eval}"
fi
[ -f "$R/items/items.jsonl" ] || $PY benchmarks/transfer_data.py items --out "$R/items" --instructions "$N"
for m in "${MODELS[@]}"; do   # the same items and split seed for every model: one item split across models
  [ -f "$R/pairs/$m/spans.parquet" ] || rtt data negatives -i "$R/items/items.jsonl" \
      --positives "$R/items/positives/$m.jsonl" -o "$R/pairs/$m" --val-frac 0.1 --test-frac 0.3 --content-match lexical
done
[ -f "$R/rows.parquet" ] || $PY benchmarks/transfer_data.py merge --pairs "$R/pairs" --out "$R/rows.parquet"
if [ -z "$FOLD" ]; then   # every fold, then rule-span agreement (benchmarks/transfer_loso.py)
  $PY benchmarks/transfer_loso.py --data "$R/rows.parquet" --items "$R/items/items.jsonl" --out "$R/loso" \
      --max-steps "$STEPS"
  exit
fi
F="$R/fold-$FOLD"
[ -f "$F/rows.parquet" ] || $PY - "$R/rows.parquet" "$FOLD" "$F/rows.parquet" <<'PYEOF'
import sys
from discriminator.data.schema import read_rows, write_rows
from discriminator.holdout import source_fold_rows
rest, test = source_fold_rows(read_rows(sys.argv[1]), sys.argv[2])
write_rows(sys.argv[3], rest + test)
print(len(rest), "train+val rows of the other models;", len(test), "test rows of", sys.argv[2])
PYEOF
if [ ! -f "$F/run/model/rtt_discriminator.json" ]; then
  rtt disc train -c benchmarks/transfer_minilm.yaml --data "$F/rows.parquet" -o "$F/run" --max-steps "$STEPS" \
      --eval-steps "$STEPS" --batch-size "$BATCH" --max-length "$LEN" ${MAX_TRAIN:+--set max_train_rows=$MAX_TRAIN} --overwrite
fi
rtt disc eval -m "$F/run/model" --data "$F/rows.parquet" -o "$F/eval" --baselines all_relevant,lexical \
    ${MAX_TEST:+--max-test-rows $MAX_TEST --max-val-rows 60}
