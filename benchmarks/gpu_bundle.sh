#!/bin/bash
# Build the folder one GPU call needs for benchmarks/bench_gpu_step.py on a machine WITHOUT network (python 3.12,
# torch + transformers + accelerate there, no TRL / datasets / pydantic / DeepSpeed): wheels, the two tokenizers'
# files, this commit's tracked files and the device script.
#   benchmarks/gpu_bundle.sh DEST        # e.g. a folder ignored by git in the checkout that travels (~15 MB)
# then on the GPU machine:  bash DEST/run.sh   (results in $OUT)
set -euo pipefail
DEST=${1:?usage: benchmarks/gpu_bundle.sh DEST}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
mkdir -p "$DEST/whl" "$DEST/assets/minilm" "$DEST/assets/smollm2-tok"
DEST=$(cd "$DEST" && pwd)
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLAT[@]}" \
    -d "$DEST/whl" trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.3 \
    pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 hjson==3.1.0 \
    typing-extensions==4.16.0
# DeepSpeed has no wheel on the index: build its pure-Python one here (no ops: DS_BUILD_OPS=0; setup.py imports torch)
if ! ls "$DEST"/whl/deepspeed-*.whl >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --no-binary=:all: -d "$tmp" deepspeed==0.19.8
    tar xzf "$tmp"/deepspeed-0.19.8.tar.gz -C "$tmp"
    (cd "$tmp/deepspeed-0.19.8" && DS_BUILD_OPS=0 DS_ACCELERATOR=cuda "$PY" -m pip wheel -q --no-deps --no-build-isolation . -w "$DEST/whl")
    rm -rf "$tmp"
fi
"$PY" - "$DEST" <<'PYEOF'
import shutil, sys
from pathlib import Path
sys.path.insert(0, ".")
from discriminator.config import default_backbone
from rubrics.offline_models import smollm2_dir
dest = Path(sys.argv[1]) / "assets"
for src, sub, names in (
    (Path(default_backbone()), "minilm", ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                                          "special_tokens_map.json")),
    (smollm2_dir(), "smollm2-tok", ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                    "chat_template.jinja")),
):
    for n in names:
        if (src / n).is_file():
            shutil.copy(src / n, dest / sub / n)
PYEOF
rm -rf "$DEST/repo" && mkdir -p "$DEST/repo"
git -C "$ROOT" archive HEAD | tar -x -C "$DEST/repo"
cp "$ROOT/benchmarks/gpu_step_device.sh" "$DEST/run.sh"
du -sh "$DEST"
