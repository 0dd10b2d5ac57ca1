"""NLTK resources used by the IFEval / IFBench checkers: find them, fetch them once, or fail clearly.

The checkers load ``punkt_tab`` (sentence and word tokenisation), ``stopwords`` and, for a few IFBench
rules, ``averaged_perceptron_tagger_eng``. Point ``NLTK_DATA`` at an NLTK data folder that holds them
(``NLTK_DATA=/path/to/nltk_data``); on a machine with network access a missing resource is downloaded
quietly on first use.
"""

from __future__ import annotations

import contextlib
import io
import threading

RESOURCES: dict[str, str] = {
    "punkt_tab": "tokenizers/punkt_tab",
    "stopwords": "corpora/stopwords",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng",
}

_tried: set[str] = set()
_lock = threading.Lock()


class NltkDataMissing(RuntimeError):
    """A checker needs NLTK data that is neither installed nor downloadable."""


def _have(path: str) -> bool:
    import nltk

    try:
        nltk.data.find(path)
        return True
    except LookupError:
        return False


def try_download_missing() -> list[str]:
    """Download (quietly, once per process) every known resource that is missing; return those still missing."""
    import nltk

    missing = []
    with _lock:
        for name, path in RESOURCES.items():
            if _have(path):
                continue
            if name not in _tried:
                _tried.add(name)
                sink = io.StringIO()
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), contextlib.suppress(Exception):
                    nltk.download(name, quiet=True, raise_on_error=False, print_error_to=sink)
            if not _have(path):
                missing.append(name)
    return missing


def missing_resource(exc: LookupError) -> str | None:
    """The resource name in NLTK's ``LookupError`` ("Resource averaged_perceptron_tagger_eng not found")."""
    import re

    text = str(exc)
    m = re.search(r"Resource\s+\x1b?\[?[0-9;]*m?([\w.-]+)", text)
    if m and m.group(1) in RESOURCES:
        return m.group(1)
    return next((name for name, path in RESOURCES.items() if name in text or path in text), m.group(1) if m else None)


def missing_error(rule: str, exc: LookupError) -> NltkDataMissing:
    name = missing_resource(exc)
    names = name or " ".join(RESOURCES)
    what = f"the NLTK resource '{name}'" if name else "NLTK data"
    return NltkDataMissing(
        f"rule {rule} needs {what}, which is not installed and could not be downloaded. Put it in a directory "
        f"named by NLTK_DATA (an NLTK data folder, e.g. NLTK_DATA=/path/to/nltk_data), or fetch it with: "
        f"python -m nltk.downloader {names}"
    )


@contextlib.contextmanager
def no_import_time_downloads():
    """Silence the download-at-import side effect of ``if_verifiable.ifbench`` (we fetch lazily instead)."""
    import nltk

    real = nltk.download
    nltk.download = lambda *a, **k: False
    try:
        yield
    finally:
        nltk.download = real
