#!/bin/bash
# On the GPU machine, from the bundle benchmarks/gpu_bundle.sh made: install the carried wheels (TRL, datasets,
# pydantic, DeepSpeed without ops...), then benchmarks/bench_gpu_step.py all (ZeRO-3 check + paper-shape cost).
# Results (summary.json, log.txt, worker logs, nvidia-smi.txt, pip.txt) go to $OUT (default /tmp/out).
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false DS_BUILD_OPS=0
t0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import importlib.metadata; print({n: importlib.metadata.version(n) for n in ('pyarrow','pandas','fsspec','huggingface_hub','accelerate','transformers','torch','einops','msgpack','ninja','py-cpuinfo','psutil')})" > "$OUT/pip.txt" 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site whl/*.whl >> "$OUT/pip.txt" 2>&1 || { cat "$OUT/pip.txt"; exit 3; }
export PYTHONPATH=/tmp/site
echo "install $(( $(date +%s) - t0 )) s" >> "$OUT/pip.txt"
cd repo
timeout ${BENCH_TIMEOUT:-265} python3 benchmarks/bench_gpu_step.py all --out /tmp/bench --report "$OUT" \
    --minilm ../assets/minilm --policy-tokenizer ../assets/smollm2-tok --budget-s ${BENCH_BUDGET:-240} "$@" 2>&1 | tee "$OUT/log.txt"
echo "total $(( $(date +%s) - t0 )) s"
