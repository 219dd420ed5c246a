"""The update handle: the one place a training step's optimizer updates happen.

A scheme's ``train_step`` computes losses and hands each to ``updates.step(group, loss)``.
Everything around an update is done here, the same way for every scheme: clear the
group's gradients, backpropagate (scaled under fp16, and only into the group's own
parameters), unscale, clip, check that the loss and the gradients are finite, step the
optimizer, apply after-step constraints. ``begin`` sets each step's learning rates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor, nn

from ._guard import NonfiniteGuard
from ._optim import schedule_rates
from ._precision import no_autocast

# The loss scale of the update being prepared, for gradients a loss takes itself
# (gradient penalties; see ``gancore.input_gradients``). None outside fp16.
_loss_scale: ContextVar[float | None] = ContextVar("gancore_loss_scale", default=None)


def current_loss_scale() -> float | None:
    return _loss_scale.get()


class Updates:
    """What a scheme's ``train_step`` updates its networks through.

    ``updates.step("critic", loss)`` updates one optimizer group (a name of the scheme's
    ``networks``); ``updates.step(("generator", "predictor"), loss)`` backpropagates once
    and steps both groups (under fp16 with the first group's scaler).
    """

    def __init__(
        self,
        optimizers: Mapping[str, torch.optim.Optimizer],
        params: Mapping[str, list[nn.Parameter]],
        settings: Mapping[str, Any],
        *,
        device: torch.device,
        amp: str,
        guard: NonfiniteGuard,
        total_steps: int,
    ) -> None:
        self.optimizers = dict(optimizers)
        self.params = {g: list(p) for g, p in params.items()}
        self.settings = dict(settings)
        self.device, self.guard, self.total_steps = device, guard, total_steps
        self.scalers = {g: torch.amp.GradScaler(device.type) for g in self.optimizers} if amp == "fp16" else {}
        self.clip = {g: s.clip_norm for g, s in self.settings.items() if s.clip_norm is not None}
        # The gradient norm costs a pass over every gradient in every update, so it is
        # taken only where something needs it: clipping, fp16 (whose skips it
        # decides), and the guard's "skip" (which must not apply a non-finite gradient).
        # Under "stop" the loss is checked instead: a non-finite gradient makes the weights,
        # and so the next update's loss, non-finite, and no checkpoint is written between.
        self.measure = bool(self.clip) or bool(self.scalers) or guard.mode == "skip"
        self.step_number = 0
        self.logs: dict[str, Tensor] = {}

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self.optimizers)

    # -- around a training step -------------------------------------------------------

    def begin(self, step: int) -> None:
        """Before training step ``step`` (0-based): set the scheduled learning rates."""
        self.step_number = step + 1  # the step as the metrics count it
        self.logs = {}
        for group, s in self.settings.items():
            schedule_rates(self.optimizers[group], s, step, self.total_steps)

    @contextlib.contextmanager
    def loss_scale(self, group: str) -> Iterator[None]:
        """Inside the block, ``gancore.input_gradients`` scales as ``group``'s update will."""
        scaler = self.scalers.get(group)
        token = _loss_scale.set(scaler.get_scale() if scaler is not None else None)
        try:
            yield
        finally:
            _loss_scale.reset(token)

    # -- one update ---------------------------------------------------------------------

    def step(self, group: str | Sequence[str], loss: Tensor, *, after_step: Callable[[], None] | None = None) -> None:
        """Update ``group`` (a name or several) to lower ``loss``; ``after_step`` runs after
        the optimizer has stepped (a weight constraint), not when the update is skipped."""
        groups = (group,) if isinstance(group, str) else tuple(group)
        for g in groups:
            if g not in self.optimizers:
                raise ValueError(f"no optimizer group {g!r} (this scheme has {', '.join(self.optimizers)})")
        for g in groups:
            self.optimizers[g].zero_grad(set_to_none=True)
        scaler = self.scalers.get(groups[0])
        with no_autocast(self.device):
            # A plain backward, as a hand-written loop does (restricting it with inputs=...
            # measured no faster). Gradients it leaves on other groups' weights are cleared
            # before those groups' own updates; the shared step pieces freeze the critic
            # while it judges the generator, so none are computed there in the first place.
            (scaler.scale(loss) if scaler is not None else loss).backward()
            if scaler is not None:
                # A group the loss did not reach has no gradients: the scaler neither
                # unscales nor steps it (it would refuse to step an optimizer it never checked).
                groups = tuple(g for g in groups if any(p.grad is not None for p in self.params[g]))
                if not groups:
                    return
                for g in groups:
                    scaler.unscale_(self.optimizers[g])
            norms = [self._norm(g) for g in groups] if self.measure else []
            for g, n in zip(groups, norms):
                self.logs[f"grad_norm_{g}"] = n.detach()
            self._apply(groups, loss, norms, scaler, after_step)

    def _norm(self, group: str) -> Tensor:
        grads = [p.grad for p in self.params[group] if p.grad is not None]
        if not grads:
            return torch.zeros((), device=self.device)
        total = torch.nn.utils.get_total_norm(grads)
        clip = self.clip.get(group)
        if clip is not None:
            torch.nn.utils.clip_grads_with_norm_(self.params[group], clip, total)
        return total

    def _apply(
        self,
        groups: tuple[str, ...],
        loss: Tensor,
        norms: list[Tensor],
        scaler: torch.amp.GradScaler | None,
        after_step: Callable[[], None] | None,
    ) -> None:
        guard = self.guard

        def apply() -> None:
            for g in groups:
                if scaler is not None:
                    scaler.step(self.optimizers[g])
                else:
                    self.optimizers[g].step()
            if after_step is not None:
                after_step()

        if not guard.active:
            apply()  # the scaler, if any, still skips overflowing steps on its own
            if scaler is not None:
                scaler.update()
            return
        stacked = torch.stack(norms) if norms else loss.new_zeros(0)
        # One check for all: a sum is finite only when every term is.
        finite = torch.isfinite(loss.detach().float() + stacked.sum())
        if not guard.decide_on_host(scaler is not None):
            apply()  # checked later, before anything is logged or saved
            guard.watch(self.step_number, groups, loss, stacked, finite)
            return
        if guard.finite(finite):
            apply()
            guard.applied()
        elif guard.mode == "stop" and scaler is None:
            guard.watch(self.step_number, groups, loss, stacked, finite)  # raises
        else:
            guard.skip(self.step_number, groups, loss, stacked, finite)
            for g in groups:  # a skipped update's norm would turn the logged mean into inf
                self.logs.pop(f"grad_norm_{g}", None)
        if scaler is not None:
            scaler.update()

    # -- checkpoints --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"scalers": {g: s.state_dict() for g, s in self.scalers.items()}, "guard": self.guard.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for g, s in self.scalers.items():
            if g in state.get("scalers", {}):
                s.load_state_dict(state["scalers"][g])
        self.guard.load_state_dict(state.get("guard", {}))
