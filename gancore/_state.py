"""A run's state: what a checkpoint holds, writing and loading it, and what differs
between the processes of a job (random streams, batch-norm statistics, a scheme's own
buffers). Mixed into ``Run``, whose attributes it uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import _checkpoint as ckpt
from ._distributed import JobError, is_running_statistic
from ._errors import GancoreError
from ._guard import DivergenceError
from ._training import CHECKPOINTS


class RunState:
    """``Run.state``, ``load_state``, ``save_checkpoint`` and what they need."""

    def state(self) -> dict[str, Any]:
        """The checkpoint's contents. With several processes it is called on all of them
        (what differs between them is gathered) and written by the first."""
        rng: dict[str, Any] = {"cpu": torch.get_rng_state(), "batch": self.rows.state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        scheme = self.scheme.state_dict()
        ema = {k: e.state_dict() for k, e in self.ema.items()}
        if self.processes.distributed:
            # What differs between the processes: random streams, the scheme's state outside
            # its networks (a history pool of this process's own fakes) and batch-norm
            # running statistics. The checkpoint's own statistics are their mean.
            own: dict[str, Any] = {"cpu": rng["cpu"], "scheme": self._process_state(scheme),
                                   "ema": {k: _statistics(v) for k, v in ema.items()}}
            if self.device.type == "cuda":
                own["cuda"] = torch.cuda.get_rng_state(self.device)
            rng["processes"] = self.processes.gather(own)
            scheme, ema = self._averaged_statistics(scheme), {k: self._averaged_statistics(v) for k, v in ema.items()}
        return {
            "format": ckpt.FORMAT,
            "step": self.step,
            "seconds": self.seconds,
            "scheme": scheme,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "updates": self.updates.state_dict(),
            "ema": ema,
            "batches_drawn": self.batches.drawn if self._batches is not None else 0,
            "rng": rng,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        try:
            self.scheme.load_state_dict(state["scheme"])
            for k, o in self.optimizers.items():
                o.load_state_dict(state["optimizers"][k])
            for k, e in self.ema.items():
                if k in state.get("ema", {}):
                    e.load_state_dict(state["ema"][k])
                    e.n_averaged = e.n_averaged.cpu()
        except (KeyError, RuntimeError) as exc:
            raise GancoreError(f"the checkpoint does not match this recipe's networks: {str(exc).splitlines()[0]}") from None
        self.updates.load_state_dict(state.get("updates", {}))
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))
        self._resume_drawn = int(state.get("batches_drawn", 0))
        self.finite = bool(state["finite"]) if "finite" in state else ckpt.state_is_finite([state["scheme"], state.get("ema")])
        self._load_rng(state["rng"])

    def _load_rng(self, rng: Mapping[str, Any]) -> None:
        try:
            self._restore_rng(rng)
        except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
            raise GancoreError(f"the checkpoint's random states do not load: {str(exc).splitlines()[0]}") from None

    def _restore_rng(self, rng: Mapping[str, Any]) -> None:
        self.rows.load(rng.get("batch"), self.step)
        rank, world = self.processes.rank, self.processes.world
        per_process = rng.get("processes")
        if world > 1 and per_process is not None and len(per_process) == world:
            own = per_process[rank]  # resumed on as many processes: every stream as it was
            self.scheme.load_state_dict(own.get("scheme", {}), strict=False)
            for k, e in self.ema.items():
                e.load_state_dict(own.get("ema", {}).get(k, {}), strict=False)
            torch.set_rng_state(own["cpu"].cpu())
            if "cuda" in own and self.device.type == "cuda":
                torch.cuda.set_rng_state(own["cuda"].cpu(), self.device)
        elif rank == 0:  # the first process's streams are the checkpoint's own
            torch.set_rng_state(rng["cpu"].cpu())
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        else:  # a process the checkpoint had no stream for: a fresh one, repeatable
            torch.manual_seed(process_seed(self.recipe.train.seed, rank) + self.step)

    def _process_state(self, scheme: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """This process's own part of the scheme's state: outside the networks (which
        every process holds alike), and the networks' running statistics."""
        networks = set(self._networks())
        return {k: v.detach().cpu() for k, v in scheme.items()
                if k.split(".", 1)[0] not in networks or is_running_statistic(k, v)}

    def _averaged_statistics(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``state`` with its running statistics replaced by their mean over the processes."""
        keys = [k for k, v in state.items() if is_running_statistic(k, v)]
        return dict(state) | dict(zip(keys, self.processes.means([state[k] for k in keys])))

    def weights_are_finite(self) -> bool:
        return ckpt.state_is_finite([self.scheme.state_dict(), {k: e.state_dict() for k, e in self.ema.items()}])

    def require_finite(self) -> None:
        """A clear error when the loaded weights are not finite (a diverged run)."""
        if self.finite:
            return
        message = f"the weights at step {self.step} are not finite (the run diverged)"
        good = ckpt.newest_finite(self.out / CHECKPOINTS) if self.out is not None else None
        if good is not None:
            message += f"; the newest finite checkpoint is step {good[0]}: use --step {good[0]}"
        raise GancoreError(message)

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of this step (with several processes: called on all of them,
        written by the first, which the others wait for)."""
        if self.out is None:
            raise GancoreError("this run has no directory to save checkpoints to (give out=...)")
        self.guard.check()
        state = self.state()
        state["finite"] = ckpt.state_is_finite([state["scheme"], state["ema"]])
        if not state["finite"] and self.guard.active:
            raise DivergenceError(f"step {self.step}: the weights are not finite; training diverged", self.step)
        drifted = self.processes.parameters_agree(self._networks() | {f"ema.{k}": e for k, e in self.ema.items()})
        if drifted:
            raise JobError(
                f"step {self.step}: the processes' copies of {', '.join(drifted)} differ: their gradients were not "
                "all reduced (a network that computes outside its forward and its own methods?)"
            )
        folder = self.out / CHECKPOINTS
        path = ckpt.checkpoint_path(folder, self.step)

        def write() -> None:
            ckpt.save_atomic(state, path)
            ckpt.prune(folder, self.recipe.train.keep_checkpoints, newest_is_finite=state["finite"])

        self.processes.on_main(write)
        return path

    def _networks(self) -> dict[str, torch.nn.Module]:
        return {name: getattr(self.scheme, name) for names in self.scheme.networks.values() for name in names}

    def synchronised(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block, batch-norm statistics (live networks and EMA copies) are their
        mean over the processes, for whatever reads them; nothing to do in one process."""
        return self.processes.statistics_averaged([self.scheme, *self.ema.values()])


def _statistics(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu() for k, v in state.items() if is_running_statistic(k, v)}


def process_seed(seed: int, rank: int) -> int:
    """The default generator's seed on process ``rank`` > 0 (process 0 keeps train.seed,
    so its streams are those of a run in one process)."""
    return (seed + rank * 0x9E3779B9) % 2**63
