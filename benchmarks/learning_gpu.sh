#!/usr/bin/env bash
# The SmolLM2 confirmation of the token-credit comparison on one GPU: every (arm, seed) of the `gpu` preset
# (grpo/experiment/config.py: 6 arms x 3 seeds, 30 steps of 8 prompts x 8 completions, 24 held-out prompts) runs
# as its own worker process on the same output folder (the runs take locks), then the report is written.
#
#   bash benchmarks/learning_gpu.sh [WORKERS] [OUT] [--set key=value ...]
#
# WORKERS defaults to arms x seeds (one process per run; SmolLM2-135M is small, so a single GPU holds them all);
# OUT defaults to the preset's runs/experiment-gpu. Resumable: finished runs are skipped, so rerun to continue.
# Environment: PYTHON (default .venv/bin/python, else python3), MODEL (a local policy folder instead of the
# offline SmolLM2), NLTK_DATA (required: the rule checkers' NLTK data folder), DEADLINE (seconds:
# workers still running then are stopped - their runs stay unfinished and rerun later - and the report is written
# from the finished runs).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-}
OUTDIR=${2:-runs/experiment-gpu}
shift $(( $# > 2 ? 2 : $# )) || true
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export NLTK_DATA=${NLTK_DATA:?set NLTK_DATA to an NLTK data folder (punkt_tab, stopwords) for the rule checkers, e.g. NLTK_DATA=/path/to/nltk_data}
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SETS=(--set "out=$OUTDIR")
[ -n "${MODEL:-}" ] && SETS+=(--set "model=$MODEL")
for a in "$@"; do SETS+=("$a"); done
if [ -z "$WORKERS" ]; then
  WORKERS=$("$PY" - "${SETS[@]}" <<'EOF'
import sys
from grpo.experiment.config import load_experiment
args = sys.argv[1:]
cfg = load_experiment("gpu", [args[i + 1] for i in range(0, len(args), 2)])
print(len(cfg.arms) * len(cfg.seeds))
EOF
)
fi
mkdir -p "$OUTDIR/logs"
echo "learning_gpu: $WORKERS workers -> $OUTDIR ($(date -u +%FT%TZ))"
t0=$(date +%s)
pids=()
for w in $(seq 1 "$WORKERS"); do
  "$PY" benchmarks/bench_learning.py --preset gpu "${SETS[@]}" >"$OUTDIR/logs/worker$w.log" 2>&1 &
  pids+=($!)
  sleep 2  # staggered: the first worker writes the shared initial-policy evaluations
done
if [ -n "${DEADLINE:-}" ]; then
  ( sleep "$DEADLINE"; echo "learning_gpu: deadline ${DEADLINE} s reached, stopping the workers"; kill "${pids[@]}" 2>/dev/null ) &
  watchdog=$!
fi
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=$((fail + 1)); done
[ -n "${watchdog:-}" ] && kill "$watchdog" 2>/dev/null || true
echo "learning_gpu: workers done in $(( $(date +%s) - t0 )) s, $fail failed"
"$PY" benchmarks/bench_learning.py --preset gpu "${SETS[@]}" --report-only
[ "$fail" -eq 0 ]
