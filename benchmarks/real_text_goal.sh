#!/usr/bin/env bash
# The real-text discriminator measurement (README, "Discriminator" section): SmolLM2 policy responses on IFEval +
# MulDimIF items held out from training (item-disjoint), MiniLM trained on policy positives (+ template pairs of
# the same training items), F1 / AUROC on policy-response rows of unseen items next to template rows and the
# all-relevant / lexical / CoRT baselines. Resumable: every step reuses what an earlier run finished.
# ABLATE=1 also trains the same recipe with case markers and on template pairs only (same steps), both
# evaluated on the same policy rows. Figures: README, "Token-Level Relevance Discriminator".
#   RTT=".venv/bin/rtt" PY=".venv/bin/python" TRAIN_ITEMS=700 TEST_ITEMS=140 STEPS=600 bash benchmarks/real_text_goal.sh
set -euo pipefail
RTT=${RTT:-.venv/bin/rtt}; PY=${PY:-.venv/bin/python}; R=${R:-runs/real}
TRAIN_ITEMS=${TRAIN_ITEMS:-700}; TEST_ITEMS=${TEST_ITEMS:-140}; STEPS=${STEPS:-600}; K=${K:-1}; TOK=${TOK:-96}
ABLATE=${ABLATE:-0}; BASELINES=${BASELINES:-all_relevant,lexical,cort}
CASE=${CASE:-off}   # case markers (discriminator/casing.py) of the main model: off (the default) | auto | on
POLICY=(--positives-from smollm2 -k "$K" --max-new-tokens "$TOK")

$PY benchmarks/real_text_items.py --out "$R/items" --train "$TRAIN_ITEMS" --test "$TEST_ITEMS"         # item-disjoint item files
# test: policy responses of unseen items (broken where they pass a rule, repaired where they fail one) ...
$RTT data negatives -i "$R/items/test.jsonl" --max-items "$TEST_ITEMS" "${POLICY[@]}" -o "$R/test" --val-frac 0 --test-frac 1
# ... and template pairs of the same items (the template figure)
$RTT data negatives -i "$R/items/test.jsonl" --max-items "$TEST_ITEMS" -o "$R/test-template" --val-frac 0 --test-frac 1
# train: policy pairs + template pairs of the training items (10% of the items for validation)
$RTT data negatives -i "$R/items/train.jsonl" --max-items "$TRAIN_ITEMS" "${POLICY[@]}" -o "$R/train-policy" --val-frac 0.1 --test-frac 0
$RTT data negatives -i "$R/items/train.jsonl" --max-items "$TRAIN_ITEMS" -o "$R/train-template" --val-frac 0.1 --test-frac 0
$PY - "$R" <<'PYEOF'
import sys
from discriminator.data.schema import read_rows, write_rows
r = sys.argv[1]
train = read_rows(f"{r}/train-policy/spans.parquet") + read_rows(f"{r}/train-template/spans.parquet")
val_items = {x.item_id for x in train if x.split == "val"}
train = [x.model_copy(update={"split": "val" if x.item_id in val_items else "train"}) for x in train]  # one split per item
write_rows(f"{r}/train.parquet", train)
write_rows(f"{r}/train-template-only.parquet", [x for x in train if x.positive_source != "policy"])
val = [x for x in train if x.split == "val"]
test = [x for x in read_rows(f"{r}/test/spans.parquet") if x.positive_source == "policy"]  # policy rows only
write_rows(f"{r}/eval-policy.parquet", val + test)
write_rows(f"{r}/eval-template.parquet", val + read_rows(f"{r}/test-template/spans.parquet"))
print(len(train), "train+val rows;", len(val), "val rows")
PYEOF
TRAIN=(-c discriminator/configs/minilm.yaml --max-steps "$STEPS" --eval-steps 100 --batch-size 16 --max-length 192)
train() {  # out data [extra...]; resumes an interrupted run, skips a finished one
  local out=$1 data=$2; shift 2
  if [ -f "$out/model/rtt_discriminator.json" ]; then return; fi
  if ls -d "$out"/checkpoint-* >/dev/null 2>&1; then set -- "$@" --resume; fi
  $RTT disc train "${TRAIN[@]}" --data "$data" -o "$out" "$@"
}
train "$R/disc" "$R/train.parquet" --set case_markers="$CASE"
$RTT disc eval -m "$R/disc/model" --data "$R/eval-policy.parquet" -o "$R/eval-policy" --baselines "$BASELINES"
$RTT disc eval -m "$R/disc/model" --data "$R/eval-template.parquet" -o "$R/eval-template" --baselines all_relevant,lexical
if [ "$ABLATE" = 1 ]; then
  train "$R/disc-case" "$R/train.parquet" --set case_markers=auto
  train "$R/disc-template-only" "$R/train-template-only.parquet" --set case_markers="$CASE"
  for m in case template-only; do
    $RTT disc eval -m "$R/disc-$m/model" --data "$R/eval-policy.parquet" -o "$R/eval-policy-$m" --baselines all_relevant
  done
fi
