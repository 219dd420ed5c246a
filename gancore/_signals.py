"""Stopping a run cleanly on a signal: Ctrl-C (SIGINT), SIGTERM and SIGHUP (what batch
schedulers, preemptible machines and a closed terminal send), SIGUSR1 (SLURM's
``--signal``).

The first signal is recorded and the step in progress finishes, so the checkpoint the
engine then writes is of a whole step and a resumed run repeats a straight one exactly. A
second signal stops at once, without saving.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """Training was stopped by a signal. ``graceful``: the step in progress finished (and
    the engine saved a checkpoint of it); otherwise a second signal cut it short."""

    def __init__(self, signum: int, *, graceful: bool) -> None:
        self.signum, self.graceful = signum, graceful
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StopRequests:
    """A context in which those signals ask the training loop to stop (``requested``).

    Handlers can only be installed from the main thread; elsewhere the block leaves the
    process's handlers alone (and Ctrl-C raises KeyboardInterrupt as usual).

    ``repeat_grace``: seconds in which a second signal counts as the same request. A job
    of several processes uses it: a scheduler may signal every process and the launcher
    forward the same signal again, which must not cut the step short."""

    def __init__(self, repeat_grace: float = 0.0) -> None:
        self.requested: int | None = None
        self.repeat_grace = repeat_grace
        self._since = 0.0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            if time.monotonic() - self._since < self.repeat_grace:
                return
            raise Stopped(signum, graceful=False)
        self.requested, self._since = signum, time.monotonic()

    def check(self, agree: Callable[[int], int] | None = None) -> None:
        """Between steps: stop now if a signal came. ``agree`` makes it a decision of the
        whole job (the largest signal number any process got; 0 for none)."""
        requested = self.requested or 0
        if agree is not None:
            requested = agree(requested)
        if requested:
            raise Stopped(requested, graceful=True)

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            # None: the handler was not installed from Python; the default is the best guess.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
