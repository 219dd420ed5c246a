"""The divergence guard: what happens when an update's loss or gradient is not finite.

``train.on_nonfinite``:

- ``stop`` (the default): the run ends with a ``DivergenceError`` naming the step, the
  optimizer group and the value; no checkpoint of the non-finite weights is written.
- ``skip``: the update is not applied; the run counts skips and stops after
  ``train.skip_limit`` of them in a row (a run that never recovers has diverged).
- ``ignore``: nothing is checked (a hand-written loop's behaviour).

Under fp16 loss scaling an overflowing update is skipped by the GradScaler, which is how
fp16 works; such skips count like ``skip``'s and end the run only after ``skip_limit`` in
a row, whatever the mode (except ``ignore``).

Checking a value on the host waits for the device. On the CPU that costs nothing, so
``stop`` checks after every update; on an accelerator it records each update's verdict
on the device and looks at them only when the engine is about to log, sample or save, so
the hot path never syncs. Either way the error names the first bad update.

With several processes the verdicts are agreed: each process may see its own loss go bad,
but all of them stop (or skip) at the same update, since their weights must stay equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ._distributed import Processes
from ._errors import DivergenceError

MODES = ("stop", "skip", "ignore")

def hint(mode: str) -> str:
    """What to try next, for the error a diverged run ends with."""
    tried = "lower the learning rate or set [optim] clip_norm"
    return tried if mode == "skip" else f"{tried}, or set train.on_nonfinite = \"skip\""


def _number(x: float) -> str:
    return str(x) if not math.isfinite(x) else f"{x:.4g}"


@dataclass
class _Verdict:
    step: int
    groups: tuple[str, ...]
    loss: Tensor
    norms: Tensor  # one gradient norm per group
    finite: Tensor

    def describe(self) -> str:
        loss = float(self.loss)
        norms = self.norms.tolist()
        group = " + ".join(self.groups)
        if not math.isfinite(loss):
            return f"the {group} loss is {_number(loss)}"
        bad = [(g, n) for g, n in zip(self.groups, norms) if not math.isfinite(n)]
        g, n = bad[0] if bad else (group, norms[0] if norms else math.nan)
        return f"the {g} gradient norm is {_number(n)} (loss {_number(loss)})"


class NonfiniteGuard:
    def __init__(self, mode: str, skip_limit: int, *, deferred: bool, processes: Processes | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown on_nonfinite mode {mode!r}")
        self.mode, self.skip_limit, self.deferred = mode, skip_limit, deferred
        self.processes = processes if processes is not None and processes.distributed else None
        self.skipped = 0  # updates not applied, over the whole run (checkpointed)
        self.in_a_row = 0
        self._pending: list[_Verdict] = []

    @property
    def active(self) -> bool:
        return self.mode != "ignore"

    def decide_on_host(self, scaled: bool) -> bool:
        """Whether the verdict must be known before the optimizer steps."""
        return self.mode == "skip" or scaled or not self.deferred

    def watch(self, step: int, groups: tuple[str, ...], loss: Tensor, norms: Tensor, finite: Tensor) -> None:
        """An applied update under ``stop``: checked now or at the next ``check``."""
        self._pending.append(_Verdict(step, groups, loss.detach(), norms.detach(), finite))
        if not self.deferred:
            self.check()

    def finite(self, flag: Tensor) -> bool:
        """An update's verdict on the host, the same on every process."""
        ok = bool(flag)
        return self.processes.all(ok) if self.processes is not None else ok

    def check(self) -> None:
        """Raise for the first non-finite update recorded since the last check (every
        process records the same updates, so they all check, and agree, together)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        flags = torch.stack([v.finite for v in pending])
        bad = len(pending) if bool(flags.all()) else int((~flags).nonzero()[0])
        first_bad = self.processes.least(bad) if self.processes is not None else bad
        if first_bad == len(pending):
            return
        first = pending[first_bad]
        if first_bad != bad:  # another process saw it first; this one's values were finite
            what = f"the {' + '.join(first.groups)} update was not finite on another process"
        else:
            what = first.describe()
        raise DivergenceError(f"step {first.step}: {what}; training diverged", first.step)

    def skip(self, step: int, groups: tuple[str, ...], loss: Tensor, norms: Tensor, finite: Tensor) -> None:
        """An update that was not applied; the run stops after ``skip_limit`` in a row."""
        self.skipped += 1
        self.in_a_row += 1
        if self.active and self.in_a_row >= self.skip_limit:
            verdict = _Verdict(step, groups, loss.detach(), norms.detach(), finite)
            raise DivergenceError(
                f"step {step}: {self.in_a_row} updates in a row were not finite and skipped "
                f"(the last: {verdict.describe()}); training diverged", step
            )

    def applied(self) -> None:
        self.in_a_row = 0

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped, "in_a_row": self.in_a_row}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.skipped = int(state.get("skipped", 0))
        self.in_a_row = int(state.get("in_a_row", 0))
