"""The engine: where a run computes, in what precision, in how many processes, and every
update of its weights.

Like a hand-written loop, but said once for every scheme: the engine resolves the device,
joins the other processes of a torchrun job, checks that the device has the precision the
recipe asks for, autocasts a step's forward passes, puts each network's DDP wrapper in
place for the step, and runs every update a scheme asks for (``Engine.update``): clear the
group's gradients, backpropagate (scaled under fp16), unscale, clip, let the divergence
guard judge the loss and gradients, step the optimizer, apply after-step constraints.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ContextManager

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ._distributed import Processes, join, topology
from ._errors import DivergenceError, GancoreError
from ._optim import set_group_values
from ._schedule import Scheduled, Target, Value, applied

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# -- where ------------------------------------------------------------------------------------


def resolve_device(name: str, *, local_rank: int | None = None) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; ``cuda`` and ``cuda:N`` must exist.

    In a job of several processes (``local_rank`` given) each process takes the device of
    its local rank, ``cuda:LOCAL_RANK``, or the CPU."""
    name = name.strip().lower()
    if local_rank is not None:
        return _device_of_process(name, local_rank)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise GancoreError(f"train.device: unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GancoreError(f"train.device: {name!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GancoreError(f"train.device: {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise GancoreError(f"train.device: {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return device


def _device_of_process(name: str, local_rank: int) -> torch.device:
    if name in ("auto", "cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise GancoreError(f"LOCAL_RANK {local_rank}: this machine has {count} CUDA device(s); start at most {count} processes per machine")
        return torch.device("cuda", local_rank)
    if name in ("auto", "cpu"):
        return torch.device("cpu")
    if name == "cuda":
        raise GancoreError("train.device: 'cuda' asked for, but CUDA is not available on this machine")
    raise GancoreError(f"train.device: {name!r}: with several processes each takes cuda:LOCAL_RANK; use auto, cuda or cpu")


# -- in what precision ------------------------------------------------------------------------


def check_precision(amp: str, device: torch.device) -> None:
    """One clear error when this device cannot run the precision the recipe asks for."""
    if amp == "off":
        return
    dtype = DTYPES[amp]
    if not torch.amp.is_autocast_available(device.type):
        raise GancoreError(f"train.amp = {amp!r}: autocast is not available on {device.type}")
    if device.type == "cuda" and amp == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise GancoreError("train.amp = 'bf16': this GPU has no bfloat16 support; use train.amp = 'fp16'")
    try:  # the CPU build decides what autocast may use: ask it rather than guess
        with torch.autocast(device.type, dtype=dtype):
            a = torch.ones(2, 2, device=device)
            (a @ a).sum()
    except RuntimeError as exc:
        raise GancoreError(f"train.amp = {amp!r} is not supported on {device}: {str(exc).splitlines()[0]}") from None


# -- the engine -------------------------------------------------------------------------------


class Engine:
    """A run's device, precision, processes and divergence guard; after ``setup``, its
    optimizers and every update.

    ``train`` is the recipe's ``[train]`` table (device, amp, backend, on_nonfinite,
    skip_limit); ``device`` overrides its device.
    """

    def __init__(self, train: Any, *, device: str | None = None) -> None:
        where = topology()
        threads = getattr(train, "threads", None)
        if threads is not None:  # process-wide: torch has one pool of CPU threads
            torch.set_num_threads(threads)
        self.device = resolve_device(device or train.device, local_rank=where.local_rank if where.distributed else None)
        self.amp: str = train.amp
        check_precision(self.amp, self.device)
        # The other processes of a torchrun job (a job of one: nothing to do).
        self.processes: Processes = join(where, train.backend, self.device)
        # Syncing to check a value is free on the CPU; elsewhere the guard defers its checks.
        # Several processes agree on the verdicts only where they meet anyway (log lines,
        # checkpoints), so they defer too.
        deferred = self.device.type != "cpu" or self.processes.distributed
        self.guard = NonfiniteGuard(train.on_nonfinite, train.skip_limit, deferred=deferred, processes=self.processes)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.params: dict[str, list[nn.Parameter]] = {}
        self.settings: dict[str, Any] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.replicas: dict[str, DistributedDataParallel] | None = None
        self.total_steps = train.steps
        # Lazy regularization: penalties every k-th step, in an update of their own; the
        # groups they update, found at their first penalty update (Step.critic_update).
        self.regularize_every: int = getattr(train, "regularize_every", 1)
        self.lazy_groups: set[str] = set()
        self.schedules: list[Scheduled] = []
        self.values: dict[str, Value] = {}  # the scheduled values in force this step
        self.step_number = 0  # the training step being taken, as the metrics count it (1-based)
        self.logs: dict[str, Tensor] = {}  # the gradient norms the updates took

    def setup(self, optimizers: Mapping[str, torch.optim.Optimizer], params: Mapping[str, list[nn.Parameter]],
              settings: Mapping[str, Any], *, schedules: Sequence[Scheduled] = (),
              set_value: Callable[[Target, Value], None] | None = None) -> None:
        """The run's optimizers, one per group, over ``params``; ``settings`` are each group's
        engine keys (``schedule``, ``final_lr``, ``clip_norm``). ``schedules`` are the
        recipe's; the engine sets an optimizer's values itself, and hands every other
        target (a part's parameter, the EMA's length) to ``set_value`` before each step."""
        self.optimizers, self.settings = dict(optimizers), dict(settings)
        self.schedules, self.set_value = list(schedules), set_value
        self._scheduled_params: dict[str, list[Scheduled]] = {}
        for s in self.schedules:
            if s.target.where[0] == "optim":
                _, group, param = s.target.where
                self._scheduled_params.setdefault(group, []).append(s)
                for pg in self.optimizers[group].param_groups:
                    if param not in pg:
                        raise GancoreError(f"{s.target.name}: the optimizer of group {group!r} keeps no {param!r} in its "
                                           "param groups, so it cannot be scheduled")
            elif set_value is None:
                raise ValueError(f"{s.target.name}: scheduled, but the engine was given no set_value")
        self.params = {g: list(p) for g, p in params.items()}
        self.scalers = {g: torch.amp.GradScaler(self.device.type) for g in self.optimizers} if self.amp == "fp16" else {}
        self.clip = {g: s.clip_norm for g, s in self.settings.items() if s.clip_norm is not None}
        # The gradient norm costs a pass over every gradient in every update, so it is
        # taken only where something needs it: clipping, fp16 (whose skips it decides),
        # and the guard's "skip" (which must not apply a non-finite gradient). Under
        # "stop" the loss is checked instead: a non-finite gradient makes the weights, and
        # so the next update's loss, non-finite, and no checkpoint is written between.
        self.measure = bool(self.clip) or bool(self.scalers) or self.guard.mode == "skip"

    # -- around a training step -------------------------------------------------------

    @contextlib.contextmanager
    def step(self, number: int, scheme: nn.Module) -> Iterator[None]:
        """Training step ``number`` (0-based): this step's learning rates, the forward passes
        autocast, and (several processes) each network's DDP wrapper in the scheme's place,
        so every backward pass reduces the gradients."""
        self.step_number, self.logs = number + 1, {}
        self.values = applied(self.schedules, number, self.total_steps)
        for s in self.schedules:
            if s.target.where[0] != "optim":
                assert self.set_value is not None  # checked in setup
                self.set_value(s.target, self.values[s.target.name])
        for group in self.optimizers:
            self._set_group(group)
        replicas = self.replicas or {}
        modules = scheme._modules
        for name, replica in replicas.items():
            modules[name] = replica
        try:
            with self.autocast():
                yield
        finally:
            for name, replica in replicas.items():
                modules[name] = replica.module

    def _set_group(self, group: str) -> None:
        """``group``'s optimizer values for the step being taken: its learning-rate schedule,
        the recipe's schedules of its parameters, and lazy regularization's adjustment."""
        settings = self.settings[group]
        scheduled = self._scheduled_params.get(group, ())
        lazy = group in self.lazy_groups
        if settings.schedule == "constant" and not scheduled and not lazy:
            return  # nothing moves: the values the optimizer was built with stay
        values = {s.target.where[2]: self.values[s.target.name] for s in scheduled}
        ratio = self.regularize_every / (self.regularize_every + 1) if lazy else None
        set_group_values(self.optimizers[group], settings, self.step_number - 1, self.total_steps, values, ratio)

    def regularizing(self, group: str) -> bool:
        """Whether the critic update of ``group`` in this step adds the penalties (always,
        unless ``train.regularize_every`` k > 1: then every k-th step, in an update of its
        own). The first time, the group's rate and betas take lazy regularization's
        adjustment, k / (k + 1) (StyleGAN2's): the group then sees k + 1 updates where it
        would see k."""
        k = self.regularize_every
        if k == 1:
            return True
        if group not in self.lazy_groups:
            self.lazy_groups.add(group)
            self._set_group(group)
        return (self.step_number - 1) % k == 0

    def autocast(self) -> ContextManager[object]:
        """The context a training step's forward passes run in."""
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.amp])

    def wrap(self, networks: Mapping[str, nn.Module], find_unused: Sequence[str]) -> None:
        """Each network's DDP wrapper, made once before the first step (a job of one: none)."""
        if self.replicas is None:
            self.replicas = self.processes.replicas(dict(networks), find_unused=find_unused)

    def loss_scale(self, group: str) -> float | None:
        """The scale ``group``'s next update multiplies its loss by (fp16), else None."""
        scaler = self.scalers.get(group)
        return scaler.get_scale() if scaler is not None else None

    # -- one update ---------------------------------------------------------------------

    def update(self, group: str | Sequence[str], loss: Tensor, *, after_step: Callable[[], None] | None = None) -> None:
        """Update ``group`` (a name or several) to lower ``loss``; ``after_step`` runs after
        the optimizer has stepped (a weight constraint), not when the update is skipped.
        Several groups share one backward pass (and, under fp16, the first one's scaler)."""
        groups = (group,) if isinstance(group, str) else tuple(group)
        for g in groups:
            if g not in self.optimizers:
                raise ValueError(f"no optimizer group {g!r} (this scheme has {', '.join(self.optimizers)})")
        for g in groups:
            self.optimizers[g].zero_grad(set_to_none=True)
        scaler = self.scalers.get(groups[0])
        with torch.autocast(self.device.type, enabled=False):
            # A plain backward, as a hand-written loop does (restricting it with inputs=...
            # measured no faster). Gradients it leaves on other groups' weights are cleared
            # before those groups' own updates; the step freezes a critic while it judges
            # the generator, so none are computed there in the first place.
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

    def _apply(self, groups: tuple[str, ...], loss: Tensor, norms: list[Tensor], scaler: torch.amp.GradScaler | None,
               after_step: Callable[[], None] | None) -> None:
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


# -- the divergence guard --------------------------------------------------------------------


# The divergence guard: what happens when an update's loss or gradient is not finite.
#
# ``train.on_nonfinite``:
#
# - ``stop`` (the default): the run ends with a ``DivergenceError`` naming the step, the
#   optimizer group and the value; no checkpoint of the non-finite weights is written.
# - ``skip``: the update is not applied; the run counts skips and stops after
#   ``train.skip_limit`` of them in a row (a run that never recovers has diverged).
# - ``ignore``: nothing is checked (a hand-written loop's behaviour).
#
# Under fp16 loss scaling an overflowing update is skipped by the GradScaler, which is how
# fp16 works; such skips count like ``skip``'s and end the run only after ``skip_limit`` in
# a row, whatever the mode (except ``ignore``).
#
# Checking a value on the host waits for the device. On the CPU that costs nothing, so
# ``stop`` checks after every update; on an accelerator it records each update's verdict
# on the device and looks at them only when the engine is about to log, sample or save, so
# the hot path never syncs. Either way the error names the first bad update.
#
# With several processes the verdicts are agreed: each process may see its own loss go bad,
# but all of them stop (or skip) at the same update, since their weights must stay equal.

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
