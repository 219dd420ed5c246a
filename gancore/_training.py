"""The training loop a ``Run`` inherits: deliberately plain (read ``_loop``): draw, step,
average, log, sample, save. The scheme does the GAN-specific work through the update
handle; everything here is the same for every GAN.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import tomli_w
import torch
from torch import Tensor

from ._artifacts import json_line, read_metrics
from ._callbacks import CallbackList
from . import _checkpoint as ckpt
from ._distributed import JobError, PeerFailed, Processes, lost_peer, swapped_in
from ._errors import GancoreError
from ._guard import DivergenceError, hint
from ._lock import RunLock
from ._parts import Callback
from ._precision import autocast
from ._progress import Progress
from ._random import drawing
from ._signals import StopRequests

if TYPE_CHECKING:
    from ._run import Run

# The run directory's files.
RECIPE_FILE = "recipe.toml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples"

Reporter = Callable[[dict[str, Any]], None]


class TrainingLoop:
    """``Run.train`` and what it needs; mixed into ``Run``, whose attributes it uses."""

    def _prepare_directory(self) -> None:
        assert self.out is not None
        self.out.mkdir(parents=True, exist_ok=True)
        recipe_path = self.out / RECIPE_FILE
        tmp = recipe_path.with_name(f".{RECIPE_FILE}.tmp")
        tmp.write_text(tomli_w.dumps(self.recipe.resolved()))
        tmp.replace(recipe_path)
        # A resumed run drops the metric lines it is about to write again.
        metrics = self.out / METRICS_FILE
        if metrics.exists():
            keep = [json_line(r) for r in read_metrics(metrics) if r.get("step", 0) <= self.step]
            metrics.write_text("".join(line + "\n" for line in keep))

    def _callbacks(self, extra: Sequence[Callback], progress: bool) -> CallbackList:
        """The recipe's ``[[callbacks]]``, built now (a missing optional package fails
        before the first step), then the caller's; only the writing process has any."""
        if not self.processes.is_main:
            return CallbackList([])
        built = [self.registry.build(kind, name, params) for kind, name, params in self.recipe.callbacks]
        for cb, (_, name, _) in zip(built, self.recipe.callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"callback {name!r} did not build a gancore.Callback")
        return CallbackList([*built, *extra, *([Progress()] if progress else [])])

    def train(
        self,
        steps: int | None = None,
        *,
        report: Reporter | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = False,
    ) -> "Run":
        """Train until step ``steps`` (the recipe's ``train.steps`` by default).

        ``callbacks`` run next to the recipe's; ``progress=True`` shows the CLI's progress
        (a bar on a terminal, lines otherwise); ``report`` is called with each metrics row.
        A diverged run raises ``gancore.DivergenceError``. SIGINT, SIGTERM, SIGHUP and
        SIGUSR1 finish the step in progress, save a checkpoint and raise
        ``gancore.Stopped``; a second signal stops at once. The run directory is locked
        while training: a second writer gets a ``GancoreError``.

        Under torchrun every process calls this; they train their shares of each batch
        and the first process alone writes (see docs/distributed.md).
        """
        if self._read_only is not None:
            raise GancoreError(f"{self.out} cannot train on: {self._read_only}")
        t = self.recipe.train
        processes: Processes = self.processes
        if t.sync_batchnorm and self.device.type != "cuda":
            raise JobError("train.sync_batchnorm: SyncBatchNorm works on CUDA devices only; set it to false on the CPU")
        total = steps or t.steps
        self.target_steps = total
        batches = self.batches
        if self._resume_drawn is not None:
            batches.drawn = self._resume_drawn
            self._resume_drawn = None
        if self.recipe.eval.every and self.step < total:
            # A metric that cannot score this data fails now, not after the training.
            processes.on_main(lambda: self.evaluate(num_samples=min(self.recipe.eval.num_samples, 64)))
        # Callbacks run on the first process only; an error there stops every process.
        hooks = processes.on_main(lambda: self._callbacks(callbacks, progress)) or CallbackList([])
        writes = self.out is not None
        if processes.distributed and processes.any(writes) != processes.all(writes):
            raise JobError("every process of the job must be given the same run directory (out=...), or none")
        if self._replicas is None:
            self._replicas = processes.replicas(self._networks(), find_unused=self.scheme.networks_with_unused_parameters)
        with contextlib.ExitStack() as held:

            def claim_directory() -> None:
                if self.out is None:
                    return
                held.enter_context(RunLock(self.out))
                if self._new and (self.out / RECIPE_FILE).exists():
                    raise GancoreError(f"{self.out} already holds a run; continue it with --resume or choose another directory")
                self._prepare_directory()

            processes.on_main(claim_directory)
            self._new = False
            # A job's processes may each get a stop signal twice (scheduler and launcher).
            stops = held.enter_context(StopRequests(repeat_grace=2.0 if processes.distributed else 0.0))
            return self._loop(total, hooks, stops, report if processes.is_main else None)

    def _loop(self, total: int, hooks: CallbackList, stops: StopRequests, report: Reporter | None) -> "Run":
        t = self.recipe.train
        batches = self.batches
        self.scheme.train()
        forward = autocast(t.amp, self.device)
        updates, guard, processes = self.updates, self.guard, self.processes
        replicas, rows = self._replicas or {}, self.rows
        writes = self.out is not None
        main = processes.on_main  # callbacks run on the first process; their errors stop all
        count_skips = t.on_nonfinite == "skip" or t.amp == "fp16"
        pending: dict[str, list[Tensor]] = {}
        steps_at_start = self.step
        last_log_time, last_log_step = time.perf_counter(), self.step
        try:
            main(lambda: hooks.fire("on_start", self))
            while self.step < total:
                updates.begin(self.step)
                with swapped_in(self.scheme, replicas), drawing(rows), forward:
                    logs = self.scheme.train_step(batches, updates, self.step)
                self.step += 1
                if self.ema and self.step > self.recipe.ema.start:
                    for net_name, avg in self.ema.items():
                        avg.update_parameters(getattr(self.scheme, net_name))
                for key, value in (logs | updates.logs).items():
                    pending.setdefault(key, []).append(value)
                done = self.step == total
                evaluate = bool(self.recipe.eval.every) and (self.step % self.recipe.eval.every == 0 or done)
                if self.step % t.log_every == 0 or done or evaluate:
                    guard.check()
                    now = time.perf_counter()
                    # One host sync per log line, not per step.
                    means = _means(pending, processes)
                    pending = {}
                    self.seconds += now - last_log_time
                    row = {"step": self.step, "seconds": round(self.seconds, 3),
                           "steps_per_sec": round((self.step - last_log_step) / max(now - last_log_time, 1e-9), 3), **means}
                    if count_skips:
                        row["skipped_updates"] = guard.skipped
                    last_log_time, last_log_step = now, self.step
                    if evaluate:
                        with self.synchronised():
                            row.update(processes.on_main(self.evaluate) or {})
                    main(lambda: self._log(row, report, total, hooks))
                if writes:
                    if (t.sample_every and self.step % t.sample_every == 0) or done:
                        guard.check()
                        with self.synchronised():
                            processes.on_main(lambda: self.save_samples(hooks))
                    if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or done:
                        saved = self.save_checkpoint()
                        main(lambda: hooks.fire("on_checkpoint", self, saved))
                if not done:
                    # A signal stops the run between steps, never inside one; every
                    # process stops at the same step.
                    stops.check(processes.any)
        except DivergenceError as exc:
            error = DivergenceError(f"{exc}; {self._kept_note()}; {hint(guard.mode)}", exc.step)
            hooks.failure(self, error)
            raise error from None
        except RuntimeError as exc:
            if not (processes.distributed and lost_peer(exc)):
                hooks.failure(self, exc)
                raise
            # DDP's own exchange (inside a backward pass) found a peer gone.
            lost = PeerFailed(f"{processes.describe()}: another process of this job ended or hung ({exc.__class__.__name__})")
            hooks.failure(self, lost)
            raise lost from None
        except KeyboardInterrupt as exc:
            # A signal (Stopped) came between steps: save that step. A second signal cut a
            # step short: save nothing. A bare KeyboardInterrupt (no handler outside the
            # main thread) is saved as before.
            if getattr(exc, "graceful", True) and self.out is not None and self.step > steps_at_start:
                try:
                    self.save_checkpoint()
                except DivergenceError as diverged:  # the stop found a divergence: report that
                    error = DivergenceError(f"{diverged}; {self._kept_note()}; {hint(guard.mode)}", diverged.step)
                    hooks.failure(self, error)
                    raise error from None
            hooks.failure(self, exc)
            raise
        except BaseException as exc:
            hooks.failure(self, exc)
            raise
        finally:
            self.scheme.train()
        hooks.fire("on_end", self)
        return self

    def _kept_note(self) -> str:
        if self.out is None:
            return "these weights were not saved"
        good = ckpt.newest_finite(self.out / CHECKPOINTS)
        if good is None:
            return "no checkpoint was written"
        return f"no checkpoint of these weights was written; the newest finite one is step {good[0]} ({good[1]})"

    def _log(self, row: dict[str, Any], report: Reporter | None, total: int, hooks: CallbackList) -> None:
        if self.out is not None:
            with open(self.out / METRICS_FILE, "a") as fh:
                fh.write(json_line(row) + "\n")
        if report is not None:
            report({**row, "total": total})
        hooks.fire("on_log", self, row)


def _means(pending: Mapping[str, list[Tensor]], processes: Processes) -> dict[str, float]:
    """Interval means of the logged values (averaged over the processes), fetched from
    the device in one transfer."""
    if not pending:
        return {}
    keys = list(pending)
    values = processes.mean(torch.stack([torch.stack(pending[k]).float().mean() for k in keys])).tolist()
    return dict(zip(keys, values))
