"""IFEval and IFBench rule checkers: the maintained ``if-verifiable`` registries behind a cached builder.

Fidelity to the official checkers (google-research ``instruction_following_eval``; the vendored copy in
``lm-eval``): the IFEval ``check_following`` code in ``if-verifiable`` 0.1.2 is the official code, and the
strict/loose protocol (empty response fails; loose = any of 8 variants passes) is re-implemented in
:mod:`rubrics.rules.base`. Where this wrapper deliberately differs, it says so here:

1. ``keywords:letter_frequency``: ``if-verifiable`` (like lm-eval) replaces a letter outside ``a-z`` by a
   *random* letter; the official checker keeps any single character. We keep the given letter.
2. Under-specified kwargs: every official checker draws missing arguments at random (a random word count,
   random forbidden words, ...), which silently turns a verdict into noise. We build each checker twice
   under two seeds and raise :class:`RuleArgumentError` when the arguments differ.
3. ``langdetect`` is made deterministic (``DetectorFactory.seed = 0``); the official run is not. Being
   deterministic, ``detect`` is then memoised per text (pure speed: same answers).
4. ``repeat:repeat_span`` with ``n_start: 0`` (or ``n_end: 0``): the checker treats 0 as "not given" and draws
   a random index; we keep the given 0 (span from the first word).
5. ``combination:repeat_prompt`` (and IFBench's ``repeat:*``) take ``prompt_to_repeat`` from the kwargs; when
   it is absent the item's prompt is used.
6. ``if-verifiable``'s own driver strips ``<think>`` blocks and silently skips unknown ids; we use only its
   registries, so neither happens (unknown ids raise :class:`UnsupportedRule`).
7. ``if-verifiable`` logs an ``ERROR`` on the root logger whenever ``langdetect`` finds no letters (the
   official "count as followed" path); a filter on the root logger drops exactly that message.
8. A checker that raises on a malformed response (some IFBench checkers parse CSV/JSON) counts as not
   followed instead of aborting the run; :data:`CHECK_ERRORS` counts these per rule.

Importing ``if_verifiable`` runs its package ``__init__``, which imports HF ``datasets`` (seconds) only for
its dataset loader; we register a namespace shell that loads that API on first attribute access, and we
suppress the NLTK downloads ``if_verifiable.ifbench`` attempts at import time (see :mod:`.nltk_data`).
"""

from __future__ import annotations

import collections
import functools
import importlib
import importlib.util
import inspect
import json
import logging
import random
import sys
import threading
import types
from typing import Any

from rubrics.rules.base import Checker, RuleArgumentError, UnsupportedRule
from rubrics.rules.nltk_data import missing_error, no_import_time_downloads, try_download_missing

_PKG = "if_verifiable"
CHECK_ERRORS: collections.Counter[str] = collections.Counter()
"""``"family:rule_id" -> count`` of responses on which a checker raised (counted as not followed)."""


def _install_package_shell() -> None:
    """Make ``if_verifiable.<sub>`` importable without running the package ``__init__`` (HF datasets)."""
    if _PKG in sys.modules:
        return
    spec = importlib.util.find_spec(_PKG)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 'if-verifiable' package is required for IFEval/IFBench rules")
    shell = types.ModuleType(_PKG)
    shell.__path__ = list(spec.submodule_search_locations)
    shell.__spec__ = spec
    shell.__file__ = spec.origin
    shell.__package__ = _PKG
    loaded: list[bool] = []

    def __getattr__(name: str) -> Any:  # the public API (get_eval_data, ...) loads on first use
        if name.startswith("__") or loaded:
            raise AttributeError(name)
        loaded.append(True)
        spec.loader.exec_module(shell)  # type: ignore[union-attr]
        return shell.__dict__[name] if name in shell.__dict__ else __getattr__(name)

    shell.__getattr__ = __getattr__  # type: ignore[method-assign]  # a module __getattr__ (PEP 562): lazy public API
    sys.modules[_PKG] = shell


class _MemoLangdetect:
    """``langdetect`` for the checkers, with ``detect`` memoised per text (exact: the seed is fixed). A batch
    asks it many times about one text (several rules, loose variants), and one call costs ~10 ms."""

    def __init__(self) -> None:
        import langdetect

        self.LangDetectException = langdetect.LangDetectException
        self.DetectorFactory = langdetect.DetectorFactory
        self.detect = functools.lru_cache(maxsize=16384)(langdetect.detect)


_MEMO_LANGDETECT: _MemoLangdetect | None = None


class _LangdetectNoise(logging.Filter):
    """Drop the root-logger ``ERROR`` the checkers emit for text without letters (an expected, handled case)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable to detect language for text")


def _quiet_langdetect_errors() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, _LangdetectNoise) for f in root.filters):
        root.addFilter(_LangdetectNoise())


def _freeze(args: Any) -> str:
    return json.dumps(args, sort_keys=True, default=lambda o: sorted(o) if isinstance(o, set) else str(o))


def _keep_letter(inst: Any, kwargs: dict[str, Any]) -> None:
    letter = kwargs.get("letter")
    if isinstance(letter, str) and len(letter.strip()) == 1:
        inst._letter = letter.strip().lower()


def _keep_span(inst: Any, kwargs: dict[str, Any]) -> None:
    """``repeat:repeat_span`` tests ``if not n_start``, so an explicit start index 0 (a value: the first word)
    was replaced by a random one; restore the given indices."""
    for arg in ("n_start", "n_end"):
        if isinstance(kwargs.get(arg), int) and not isinstance(kwargs[arg], bool):
            setattr(inst, f"_{arg}", kwargs[arg])


_POST_BUILD = {"keywords:letter_frequency": _keep_letter, "repeat:repeat_span": _keep_span}


class IFRegistry:
    """One ``if-verifiable`` registry (``ifeval`` or ``ifbench``), loaded on first use."""

    def __init__(self, family: str, submodule: str):
        self.family, self.submodule = family, submodule
        self._classes: dict[str, type[Any]] | None = None
        self._signatures: dict[str, tuple[frozenset[str], bool]] = {}
        self._lock = threading.Lock()

    def classes(self) -> dict[str, type]:
        if self._classes is None:
            with self._lock:
                if self._classes is None:
                    _install_package_shell()
                    with no_import_time_downloads():
                        mod = importlib.import_module(f"{_PKG}.{self.submodule}.instructions_registry")
                    import langdetect

                    langdetect.DetectorFactory.seed = 0
                    _quiet_langdetect_errors()
                    instructions: Any = importlib.import_module(f"{_PKG}.{self.submodule}.instructions")
                    if hasattr(instructions, "langdetect"):
                        global _MEMO_LANGDETECT
                        _MEMO_LANGDETECT = _MEMO_LANGDETECT or _MemoLangdetect()
                        instructions.langdetect = _MEMO_LANGDETECT
                    self._classes = dict(mod.INSTRUCTION_DICT)
        return self._classes

    def rule_ids(self) -> list[str]:
        return sorted(self.classes())

    def knows(self, rule_id: str) -> bool:
        return rule_id in self.classes()

    def _params(self, rule_id: str) -> tuple[frozenset[str], bool]:
        if rule_id not in self._signatures:
            params = inspect.signature(self._class(rule_id).build_description).parameters
            var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            self._signatures[rule_id] = (frozenset(n for n in params if n != "self"), var_kw)
        return self._signatures[rule_id]

    def _class(self, rule_id: str) -> type[Any]:
        cls = self.classes().get(rule_id)
        if cls is None:
            raise UnsupportedRule(self.family, rule_id, f"not in the {self.family} registry")
        return cls

    def needs_prompt(self, rule_id: str, kwargs: dict[str, Any]) -> bool:
        names, _ = self._params(rule_id)
        return "prompt_to_repeat" in names and not kwargs.get("prompt_to_repeat")

    def build(self, rule_id: str, kwargs: dict[str, Any], prompt: str = "") -> Checker:
        cls = self._class(rule_id)
        names, var_kw = self._params(rule_id)
        kw = {k: v for k, v in kwargs.items() if v is not None}
        unknown = sorted(set(kw) - names)
        if unknown and not var_kw:
            raise RuleArgumentError(
                f"unknown kwargs {unknown}; accepted: {sorted(names)}", family=self.family, rule_id=rule_id
            )
        if "prompt_to_repeat" in names and not kw.get("prompt_to_repeat"):
            if not prompt:
                raise RuleArgumentError(
                    "needs 'prompt_to_repeat' in kwargs or the item's prompt", family=self.family, rule_id=rule_id
                )
            kw["prompt_to_repeat"] = prompt
        state = random.getstate()
        try:
            built = [self._build_once(cls, rule_id, kw, seed) for seed in (12345, 67890)]
        finally:
            random.setstate(state)
        (inst, args_a), (_, args_b) = built
        if args_a != args_b:
            a, b = json.loads(args_a) or {}, json.loads(args_b) or {}
            chance = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise RuleArgumentError(
                f"kwargs {sorted(kw)} leave {chance} to chance; give them explicitly",
                family=self.family,
                rule_id=rule_id,
            )
        return _safe_checker(inst.check_following, f"{self.family}:{rule_id}")

    def _build_once(self, cls: type, rule_id: str, kw: dict[str, Any], seed: int) -> tuple[Any, str]:
        random.seed(seed)
        inst = cls(rule_id)
        try:
            inst.build_description(**kw)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise RuleArgumentError(f"{type(exc).__name__}: {exc}", family=self.family, rule_id=rule_id) from None
        if rule_id in _POST_BUILD:
            _POST_BUILD[rule_id](inst, kw)
        return inst, _freeze(inst.get_instruction_args())


def _safe_checker(fn: Any, rule: str) -> Checker:
    def checker(text: str) -> bool:
        try:
            return bool(fn(text))
        except LookupError as exc:
            if type(exc) is not LookupError:  # IndexError / KeyError: a malformed response
                CHECK_ERRORS[rule] += 1
                return False
            try_download_missing()
            try:
                return bool(fn(text))
            except LookupError as again:
                if type(again) is not LookupError:
                    CHECK_ERRORS[rule] += 1
                    return False
                raise missing_error(rule, again) from None
        except (ValueError, TypeError, AttributeError, ZeroDivisionError, RecursionError, AssertionError):
            CHECK_ERRORS[rule] += 1
            return False

    return checker


IFEVAL = IFRegistry("ifeval", "ifeval")
IFBENCH = IFRegistry("ifbench", "ifbench")
