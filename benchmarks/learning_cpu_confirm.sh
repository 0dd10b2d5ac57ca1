#!/usr/bin/env bash
# The SmolLM2 confirmation of the token-credit comparison on 2 CPU cores (the `cpu` preset's policy and task, more
# steps and held-out prompts): grpo-aon, gdpo and the token credit CREDIT (default centred) at BETA (default 1, the
# testbed's winner: docs/results/2026-12-08-token-credit.md) with oracle relevance and with a
# MiniLM discriminator trained on SmolLM2's own responses to the train prompts (benchmarks/task_discriminator.sh,
# built first, cached in runs/task-disc-cpu), 3 seeds x 30 steps of 2 prompts x 4 completions, 24 held-out
# prompts answered 4 times at temperature 1 at steps 15 and 30 (pass rates the mean over the answers; arms paired on
# the mean of both evaluations: one greedy answer of 24 prompts swung by 0.3 between evaluations), checkpoints
# every 10 steps (an interrupted run continues mid-way). WORKERS processes share the output
# folder; rerun the same command to resume.
#
#   WORKERS=2 bash benchmarks/learning_cpu_confirm.sh [--set key=value ...]
#   CREDIT=blame BETA=1 OUT=runs/confirm-cpu-blame WORKERS=2 bash benchmarks/learning_cpu_confirm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKERS=${WORKERS:-2}
CREDIT=${CREDIT:-centred}; BETA=${BETA:-1}; OUT=${OUT:-runs/confirm-cpu-r3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=PASSIVE TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export NLTK_DATA=${NLTK_DATA:?set NLTK_DATA to an NLTK data folder (punkt_tab, stopwords) for the rule checkers, e.g. NLTK_DATA=/path/to/nltk_data}
ARGS=(--config cpu --set out="$OUT" --set name=confirm-cpu --set steps=30 --set eval_every=15
      --set eval_samples=4 --set report.final_window=2
      --set checkpoint_every=10 --set task.train_prompts=24 --set task.heldout_prompts=24
      --set discriminator=runs/task-disc-cpu/disc/model
      --set "arms=[{name: grpo-aon, beta: 0}, {name: gdpo, beta: 0, response_advantage: gdpo},
                   {name: rtt-$CREDIT-oracle, beta: $BETA, relevance: oracle, token_credit: $CREDIT},
                   {name: rtt-$CREDIT-disc, beta: $BETA, relevance: discriminator, token_credit: $CREDIT}]" "$@")
rtt() { "$PY" -c 'from flows.cli import main; main()' experiment "${ARGS[@]}" "$@"; }
mkdir -p "$OUT-logs"
t0=$(date +%s)
if [ ! -f runs/task-disc-cpu/disc/model/rtt_discriminator.json ]; then
  CONFIG=cpu OUT=runs/task-disc-cpu bash benchmarks/task_discriminator.sh --set task.train_prompts=24 \
      --set task.heldout_prompts=24 > "$OUT-logs/discriminator.log" 2>&1
fi
pids=()
for i in $(seq "$WORKERS"); do
  rtt > "$OUT-logs/worker$i.log" 2>&1 &
  pids+=($!)
  sleep 30  # the first worker writes the shared initial-policy files
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
rtt --report-only
echo "done in $(( $(date +%s) - t0 )) s (workers exit status $status); load: $(uptime)"
exit $status
