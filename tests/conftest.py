"""Session-wide test environment: offline, isolated Prefect home, shared benchmark data, tiny models."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))

_PREFECT_HOME = tempfile.mkdtemp(prefix="rtt-prefect-home-")
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
    }
)
if (SHARED / "nltk_data").is_dir():
    os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; set RTT_SHARED_DIR")
    return SHARED


@pytest.fixture(scope="session")
def ifeval_path(shared_dir) -> Path:
    return shared_dir / "data" / "ifeval" / "input_data.jsonl"


@pytest.fixture(scope="session")
def muldimif_path(shared_dir) -> Path:
    return shared_dir / "data" / "muldimif" / "test.json"


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (a real temporary API + SQLite) for the whole session (~18 s once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-policy"))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads; one thread avoids OpenMP spin-waits on a busy 2-core box.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny import tiny_token_classifier

    return tiny_token_classifier(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def tiny_decoder_disc_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny import tiny_token_classifier

    return tiny_token_classifier(tmp_path_factory.mktemp("tiny-llama-disc"), "llama")


# ----- OpenAI-compatible LLM servers (tests/helpers/llm_server.py) -----


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory):
    """A REAL `transformers serve` on 127.0.0.1 serving the tiny random Llama (~10-20 s to start, ~20 req/s).

    Use ``openai_server.llm_config(**overrides)`` for an LLMConfig; its answers are garbage (empty at
    temperature 0), so parsers see failures. Killed at session end."""
    from tests.helpers.llm_server import start_transformers_serve, tiny_chat_model

    root = tmp_path_factory.mktemp("openai-server")
    server = start_transformers_serve(tiny_chat_model(root / "tiny-chat-lm"), log_path=root / "serve.log")
    yield server
    server.stop()


@pytest.fixture
def scripted_openai():
    """Factory of scripted fake OpenAI servers (tests/helpers/llm_server.py::ScriptedOpenAI), stopped after the test."""
    from tests.helpers.llm_server import ScriptedOpenAI

    servers: list[ScriptedOpenAI] = []

    def make(*args, **kwargs) -> ScriptedOpenAI:
        servers.append(ScriptedOpenAI(*args, **kwargs).start())
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


# ----- Label Studio (annotation/server.py) -----


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory):
    """A REAL Label Studio server (own venv `.venv-labelstudio`, `make labelstudio-install`) on a free port of
    127.0.0.1 with a temporary SQLite data dir and a random preset user/token (~35-50 s first boot). Fails,
    never skips, when the venv is missing. Stopped (process group killed) at session end."""
    import secrets

    from annotation.server import LabelStudioServerError, ls_executable, start, stop

    venv = Path(os.environ.get("RTT_LABELSTUDIO_VENV", ROOT / ".venv-labelstudio"))
    try:
        ls_executable(venv)
    except LabelStudioServerError as exc:
        pytest.fail(str(exc))
    data_dir = tmp_path_factory.mktemp("labelstudio")
    info = start(
        data_dir,
        venv=venv,
        username="reviewer@rtt.test",
        password=secrets.token_urlsafe(12),
        token=secrets.token_hex(20),
        timeout=300,
    )
    yield info
    stop(data_dir)


# ----- markers: `make test-fast` leaves out what needs a server process -----

#: fixtures that start (or need) a server process: a real Label Studio, a Prefect server or the Prefect test
#: harness's temporary API, a real `transformers serve`
SERVER_FIXTURES = frozenset({"labelstudio", "prefect_server", "prefect_harness", "openai_server"})


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses a server fixture ``server`` (tests that start one themselves carry the marker)."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
