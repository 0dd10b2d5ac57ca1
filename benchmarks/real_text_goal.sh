#!/usr/bin/env bash
# The real-text discriminator measurement (README, "Discriminator" section): SmolLM2 policy responses on IFEval +
# MulDimIF items held out from training (item-disjoint), MiniLM trained on policy positives (+ template pairs of
# the same training items), F1 / AUROC on policy-response rows of unseen items next to template rows and the
# all-relevant / lexical baselines. Resumable: every step reuses what an earlier run finished.
#   RTT=".venv/bin/rtt" PY=".venv/bin/python" TRAIN_ITEMS=150 TEST_ITEMS=60 STEPS=260 bash benchmarks/real_text_goal.sh
set -euo pipefail
RTT=${RTT:-.venv/bin/rtt}; PY=${PY:-.venv/bin/python}; R=${R:-runs/real}
TRAIN_ITEMS=${TRAIN_ITEMS:-150}; TEST_ITEMS=${TEST_ITEMS:-60}; STEPS=${STEPS:-260}; K=${K:-1}; TOK=${TOK:-96}
POLICY=(--positives-from smollm2 -k "$K" --max-new-tokens "$TOK")

$PY benchmarks/real_text_items.py --out "$R/items" --train 300 --test 100          # item-disjoint item files
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
val = [x for x in train if x.split == "val"]
test = [x for x in read_rows(f"{r}/test/spans.parquet") if x.positive_source == "policy"]  # policy rows only
write_rows(f"{r}/eval-policy.parquet", val + test)
write_rows(f"{r}/eval-template.parquet", val + read_rows(f"{r}/test-template/spans.parquet"))
print(len(train), "train+val rows;", len(val), "val rows")
PYEOF
$RTT disc train -c discriminator/configs/minilm.yaml --data "$R/train.parquet" -o "$R/disc" --max-steps "$STEPS" \
    --eval-steps 65 --batch-size 16 --max-length 192   # add --resume to continue an interrupted run
for which in policy template; do
  $RTT disc eval -m "$R/disc/model" --data "$R/eval-$which.parquet" -o "$R/eval-$which" --baselines all_relevant,lexical
done
