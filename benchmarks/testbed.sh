#!/usr/bin/env bash
# The learning testbed: every arm x seed of the `testbed` preset (grpo/experiment/config.py) on a tiny LM the
# project pretrains itself (grpo/experiment/testbed_lm.py) - a fast, powered test of the credit mechanism on 2 CPU
# cores, not a claim about real models. Builds the LM once (cached in runs/testbed-lm) and the discriminator of the
# `rtt-centred-disc` arm once (MiniLM on the testbed's own pairs: benchmarks/task_discriminator.sh, cached in
# runs/task-disc-testbed), then WORKERS processes share
# one output folder (each takes the (arm, seed) runs nobody holds; finished runs are skipped, so re-running the
# same command resumes), then writes the report. Extra arguments go to `rtt experiment` (e.g. --set seeds=[0]).
#
#   bash benchmarks/testbed.sh                       # all arms x 5 seeds x 200 steps
#   PRESET=testbed-r1 bash benchmarks/testbed.sh     # round one (docs/learning-testbed-report.md)
#   nohup bash benchmarks/testbed.sh > runs/testbed.log 2>&1 &   # in the background
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKERS=${WORKERS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=PASSIVE TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
if [ -z "${NLTK_DATA:-}" ]; then   # the sentence rule needs punkt_tab: else an nltk_data folder beside the checkout
  for d in ../shared/nltk_data ../../shared/nltk_data; do [ -d "$d" ] && NLTK_DATA=$(cd "$d" && pwd) && break; done
fi
export NLTK_DATA=${NLTK_DATA:-}
PRESET=${PRESET:-testbed}
rtt() { "$PY" -c 'from flows.cli import main; main()' experiment --config "$PRESET" "$@"; }
LOGS=runs/testbed-logs
mkdir -p "$LOGS"
t0=$(date +%s)
echo "load: $(uptime)"
"$PY" -m grpo.experiment.testbed_lm           # build (or reuse) runs/testbed-lm
echo "testbed LM ready after $(( $(date +%s) - t0 )) s"
if [ "$PRESET" = testbed ] && [ ! -f runs/task-disc-testbed/disc/model/rtt_discriminator.json ]; then
  CONFIG=testbed OUT=runs/task-disc-testbed K=${DISC_K:-2} bash benchmarks/task_discriminator.sh > "$LOGS/discriminator.log" 2>&1
fi
echo "testbed discriminator ready after $(( $(date +%s) - t0 )) s"
pids=()
for i in $(seq "$WORKERS"); do
  rtt "$@" > "$LOGS/worker$i.log" 2>&1 &
  pids+=($!)
  sleep 20   # the first worker computes the shared initial-policy files; the next ones reuse them
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
rtt "$@" --report-only
echo "done in $(( $(date +%s) - t0 )) s (workers exit status $status); load: $(uptime)"
exit $status
