"""Calling a run's callbacks: every one, in order, for each event."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ._parts import Callback


class CallbackList:
    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def fire(self, event: str, run: Any, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(run, *args)

    def failure(self, run: Any, error: BaseException) -> None:
        """Tell every callback; one that fails while being told must not hide ``error``."""
        for cb in self.callbacks:
            try:
                cb.on_failure(run, error)
            except Exception as exc:  # noqa: BLE001 - the original error is what matters
                warnings.warn(f"callback {type(cb).__name__}.on_failure raised {type(exc).__name__}: {exc}", stacklevel=2)
