"""Child processes that do not outlive their parent: ``PR_SET_PDEATHSIG`` (Linux).

A process killed with ``kill -9`` runs no cleanup, so its children (a pool's workers, a server it started) would
keep running with parent PID 1. :func:`die_with_parent` asks the kernel to send ``sig`` to the calling process
when its parent dies; call it first thing in the child (a ``preexec_fn``, a pool ``initializer``).
"""

from __future__ import annotations

import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """In a child of ``parent``: get ``sig`` when the parent dies. Returns False where ``prctl`` is missing (not
    Linux: a no-op). A parent already gone (it died before the call took effect) means ``sig`` now."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True
