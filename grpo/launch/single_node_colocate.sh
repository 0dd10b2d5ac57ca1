#!/usr/bin/env bash
# Launch recipe (a): the paper run on ONE 8-GPU node. 8 training processes (DeepSpeed ZeRO-3), each GPU also
# hosting a TRL vLLM engine in colocate mode; the LLM judge is an EXTERNAL OpenAI-compatible endpoint.
#
#   JUDGE_URL=http://judge-host:8001/v1 grpo/launch/single_node_colocate.sh [--set key=value ...]
#
# Environment: JUDGE_URL (required: the judge endpoint), CONFIG (default paper), NPROC (default: the GPUs
# nvidia-smi sees, else 8), RTT_LAUNCH_DRY_RUN=1 prints the commands instead of running them.
# The plan is checked first (`rtt train policy --dry-run`): a GPU count that cannot hold 64 prompts x 8
# rollouts per RL step stops here, naming the fields, before anything is loaded.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONFIG=${CONFIG:-paper}
: "${JUDGE_URL:?set JUDGE_URL to the OpenAI-compatible base URL of the judge, e.g. http://judge-host:8001/v1}"
if [[ -z ${NPROC:-} ]]; then
  NPROC=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
  [[ $NPROC -gt 0 ]] || NPROC=8
fi
ACCEL=grpo/configs/accelerate/deepspeed_zero3.yaml

run() {
  if [[ -n ${RTT_LAUNCH_DRY_RUN:-} ]]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

rtt train policy --config "$CONFIG" --processes "$NPROC" --dry-run --set "judge.base_url=$JUDGE_URL" "$@" >/dev/null
run accelerate launch --config_file "$ACCEL" --num_processes "$NPROC" --num_machines 1 \
  -m grpo.run --config "$CONFIG" --set "judge.base_url=$JUDGE_URL" "$@"
