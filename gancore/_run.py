"""A run: the parts a recipe names, built and wired, plus the training loop around them.

The loop is deliberately plain (read ``train``): draw, step, average, log, save. The
scheme does the GAN-specific work; everything here is the same for every GAN.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w
import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from . import _checkpoint as ckpt
from ._artifacts import json_line, read_metrics, save_curves, save_samples
from ._batches import DeviceBatches
from ._callbacks import CallbackList
from ._device import resolve_device
from ._ema import averaged_copy
from ._footprint import check_networks
from ._errors import GancoreError
from ._guard import DivergenceError, NonfiniteGuard, hint
from ._lock import RunLock
from ._optim import build_optimizer
from ._parts import Callback, DataSpec, Dataset, Scheme
from ._plugins import registry as default_registry
from ._precision import autocast, check_precision
from ._progress import Progress
from ._recipe import Recipe, add_callbacks, apply_overrides, load_source, parse_override, read_document
from ._registry import Registry
from ._sampling import SampleRequest
from ._signals import StopRequests
from ._updates import Updates

RECIPE_FILE = "recipe.toml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples"

# Only these may change when a run is resumed: they do not change what the weights are.
RESUMABLE_KEYS = ("train.steps", "train.device", "train.log_every", "train.sample_every",
                  "train.checkpoint_every", "train.keep_checkpoints", "train.num_samples", "eval.every",
                  "train.on_nonfinite", "train.skip_limit", "callbacks")

Reporter = Callable[[dict[str, Any]], None]


class Run:
    """Build with ``Run.create`` (a new run) or ``Run.load`` (an existing run directory)."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        name: str = "run",
        out: str | Path | None = None,
        registry: Registry | None = None,
        device: str | None = None,
    ) -> None:
        self.recipe, self.name = recipe, name
        self.registry = registry or default_registry()
        self.out = Path(out) if out is not None else None
        self.device = resolve_device(device or recipe.train.device)
        if device is not None:
            recipe.train.device = device  # the resolved recipe records where it ran
        self.step = 0
        self.seconds = 0.0
        self._dataset: Dataset | None = None
        self._batches: DeviceBatches | None = None
        self._spec: DataSpec | None = None
        self._resume_drawn: int | None = None
        self.finite = True  # whether the loaded checkpoint's weights are finite
        self._new = False  # a new run, whose directory must not hold another run
        self._read_only: str | None = None  # why this run may be sampled but not trained
        self.target_steps = recipe.train.steps
        self._build()

    # -- construction ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        source: str | Path | Mapping[str, Any],
        *,
        overrides: Mapping[str, Any] | list[str] | None = None,
        out: str | Path | None = None,
        device: str | None = None,
        registry: Registry | None = None,
        log_to: Sequence[str] = (),
        **objects: Any,
    ) -> "Run":
        """A new run from a recipe (a name, a file or a dict), optional ``--set``-style
        overrides, callbacks to add by name (``log_to=["tensorboard"]``), and optional
        objects for slots (``generator=MyModule()``)."""
        if out is not None and (Path(out) / RECIPE_FILE).exists():
            raise GancoreError(f"{out} already holds a run; continue it with load_run({str(out)!r}) or choose another directory")
        reg = registry or default_registry()
        name, doc = load_source(source, reg)
        if overrides:
            doc = apply_overrides(doc, overrides)
        doc = add_callbacks(doc, list(log_to))
        recipe = Recipe(doc, reg, objects=objects)
        run = cls(recipe, name=name, out=out, registry=reg, device=device)
        run._new = True
        return run

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        overrides: Mapping[str, Any] | list[str] | None = None,
        device: str | None = None,
        registry: Registry | None = None,
        step: int | None = None,
        log_to: Sequence[str] = (),
        **objects: Any,
    ) -> "Run":
        """An existing run directory with its latest checkpoint, to resume or sample; or
        the checkpoint of ``step``, to sample and evaluate (training on from a checkpoint
        older than the newest is refused: it would fork the run's history)."""
        path = Path(path)
        if not (path / RECIPE_FILE).is_file():
            raise GancoreError(f"{path} is not a gancore run (no {RECIPE_FILE})")
        reg = registry or default_registry()
        doc = read_document(path / RECIPE_FILE)
        for slot, value in list(doc.items()):
            if isinstance(value, dict) and value.get("name") == "<object>":
                if slot not in objects:
                    raise GancoreError(
                        f"this run's {slot} was a Python object ({value.get('class')}); pass it again: "
                        f"Run.load(path, {slot}=...)"
                    )
                del doc[slot]
        if overrides:
            keys = [".".join(parse_override(o)[0]) for o in overrides] if isinstance(overrides, list) else list(overrides)
            for key in keys:
                if key not in RESUMABLE_KEYS:
                    raise GancoreError(f"--set {key}: cannot change when resuming (only {', '.join(RESUMABLE_KEYS)})")
            doc = apply_overrides(doc, overrides)
        doc = add_callbacks(doc, list(log_to))
        recipe = Recipe(doc, reg, objects=objects)
        run = cls(recipe, name=path.name, out=path, registry=reg, device=device)
        if step is not None:
            kept = dict(ckpt.list_checkpoints(path / CHECKPOINTS))
            if step not in kept:
                raise GancoreError(f"{path} has no checkpoint of step {step} (it has: {', '.join(map(str, kept)) or 'none'})")
            state = ckpt.load(kept[step], map_location=run.device)
            if step != max(kept):
                # Training on from here would fork the run's history: newer checkpoints exist.
                run._read_only = f"it was loaded at step {step}, not at its newest checkpoint ({max(kept)})"
        else:
            state = ckpt.load_latest(path / CHECKPOINTS, map_location=run.device)
        if state is not None:
            run.load_state(state)
        return run

    def _build(self) -> None:
        r, reg = self.recipe, self.registry
        check_precision(r.train.amp, self.device)
        torch.manual_seed(r.train.seed)  # network initialisation repeats with the seed
        spec = self.spec
        check_networks(reg, r.slots, spec, self.device)  # before anything is allocated
        built: dict[str, Any] = {}
        for slot_name, value in r.slots.items():
            if slot_name in r.objects:
                built[slot_name] = r.objects[slot_name]
            elif value is None:
                built[slot_name] = None
            elif isinstance(value, list):
                built[slot_name] = [reg.build(k, n, p, spec=spec) for k, n, p in value]
            else:
                kind, name, params = value
                built[slot_name] = reg.build(kind, name, params, spec=spec)
        _, scheme_name, scheme_params = r.scheme
        scheme = reg.build("scheme", scheme_name, scheme_params, spec=spec, **built)
        if not isinstance(scheme, Scheme):
            raise TypeError(f"scheme {scheme_name!r} did not build a gancore.Scheme")
        self.scheme: Scheme = scheme.to(self.device)
        for module in self.scheme.modules():
            pack = getattr(module, "pack", 1)
            if isinstance(pack, int) and pack > 1 and r.train.batch_size % pack:
                raise GancoreError(f"train.batch_size: {r.train.batch_size} is not divisible by the critic's pack size {pack}")
        params = self.scheme.group_parameters()
        self.optimizers = {g: build_optimizer(params[g], r.optim[g]) for g in self.scheme.groups()}
        # Syncing to check a value is free on the CPU; elsewhere the guard defers its checks.
        self.guard = NonfiniteGuard(r.train.on_nonfinite, r.train.skip_limit, deferred=self.device.type != "cpu")
        self.updates = Updates(self.optimizers, params, r.optim, device=self.device, amp=r.train.amp,
                               guard=self.guard, total_steps=r.train.steps)
        self.ema: dict[str, AveragedModel] = {}
        if r.ema.decay > 0:
            for net_name in self.scheme.averaged_networks():
                self.ema[net_name] = averaged_copy(getattr(self.scheme, net_name), r.ema.decay)
        if r.train.compile:
            # In place (nn.Module.compile), so state_dict keys and checkpoints are unchanged.
            for names in self.scheme.networks.values():
                for net_name in names:
                    getattr(self.scheme, net_name).compile()

    # -- data ---------------------------------------------------------------------------

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            _, name, params = self.recipe.data
            data = self.registry.build("dataset", name, params)
            if not isinstance(data, Dataset):
                raise TypeError(f"dataset {name!r} did not build a gancore.Dataset")
            self._dataset = data
        return self._dataset

    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            self._spec = self.dataset.spec
        return self._spec

    @property
    def batches(self) -> DeviceBatches:
        if self._batches is None:
            tensors = {k: v.to(self.device) for k, v in self.dataset.tensors.items()}
            self._batches = DeviceBatches(tensors, self.recipe.train.batch_size, self.recipe.train.seed)
        return self._batches

    # -- state --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": ckpt.FORMAT,
            "step": self.step,
            "seconds": self.seconds,
            "scheme": self.scheme.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "updates": self.updates.state_dict(),
            "ema": {k: e.state_dict() for k, e in self.ema.items()},
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
        torch.set_rng_state(state["rng"]["cpu"].cpu())
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])

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
        if self.out is None:
            raise GancoreError("this run has no directory to save checkpoints to (give out=...)")
        self.guard.check()
        state = self.state()
        state["finite"] = ckpt.state_is_finite([state["scheme"], state["ema"]])
        if not state["finite"] and self.guard.active:
            raise DivergenceError(f"step {self.step}: the weights are not finite; training diverged", self.step)
        folder = self.out / CHECKPOINTS
        path = ckpt.checkpoint_path(folder, self.step)
        ckpt.save_atomic(state, path)
        ckpt.prune(folder, self.recipe.train.keep_checkpoints, newest_is_finite=state["finite"])
        return path

    # -- the loop -----------------------------------------------------------------------

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
        before the first step), then the caller's."""
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
        """
        if self._read_only is not None:
            raise GancoreError(f"{self.out} cannot train on: {self._read_only}")
        t = self.recipe.train
        total = steps or t.steps
        self.target_steps = total
        batches = self.batches
        if self._resume_drawn is not None:
            batches.drawn = self._resume_drawn
            self._resume_drawn = None
        if self.recipe.eval.every and self.step < total:
            # A metric that cannot score this data fails now, not after the training.
            self.evaluate(num_samples=min(self.recipe.eval.num_samples, 64))
        hooks = self._callbacks(callbacks, progress)
        lock = RunLock(self.out) if self.out is not None else None
        with contextlib.ExitStack() as held:
            if lock is not None:
                held.enter_context(lock)
                if self._new and (self.out / RECIPE_FILE).exists():
                    raise GancoreError(f"{self.out} already holds a run; continue it with --resume or choose another directory")
                self._prepare_directory()
                self._new = False
            return self._loop(total, hooks, held.enter_context(StopRequests()), report)

    def _loop(self, total: int, hooks: CallbackList, stops: StopRequests, report: Reporter | None) -> "Run":
        t = self.recipe.train
        batches = self.batches
        self.scheme.train()
        forward = autocast(t.amp, self.device)
        updates, guard = self.updates, self.guard
        count_skips = t.on_nonfinite == "skip" or t.amp == "fp16"
        pending: dict[str, list[Tensor]] = {}
        steps_at_start = self.step
        last_log_time, last_log_step = time.perf_counter(), self.step
        try:
            hooks.fire("on_start", self)
            while self.step < total:
                updates.begin(self.step)
                with forward:
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
                    means = _means(pending)
                    pending = {}
                    self.seconds += now - last_log_time
                    row = {"step": self.step, "seconds": round(self.seconds, 3),
                           "steps_per_sec": round((self.step - last_log_step) / max(now - last_log_time, 1e-9), 3), **means}
                    if count_skips:
                        row["skipped_updates"] = guard.skipped
                    last_log_time, last_log_step = now, self.step
                    if evaluate:
                        row.update(self.evaluate())
                    self._log(row, report, total, hooks)
                if self.out is not None:
                    if (t.sample_every and self.step % t.sample_every == 0) or done:
                        guard.check()
                        self.save_samples(hooks)
                    if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or done:
                        hooks.fire("on_checkpoint", self, self.save_checkpoint())
                if not done:
                    stops.check()  # a signal stops the run between steps, never inside one
        except DivergenceError as exc:
            error = DivergenceError(f"{exc}; {self._kept_note()}; {hint(guard.mode)}", exc.step)
            hooks.failure(self, error)
            raise error from None
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

    # -- using the trained networks -------------------------------------------------------

    @contextlib.contextmanager
    def averaged(self, use: bool = True) -> Iterator[Scheme]:
        """The scheme with its EMA copies in place of the live networks (where the run
        keeps them and they have started), in eval mode and without gradients: sampling,
        evaluation and a scheme's own helpers (``translate_ab``, ...) inside the block see
        the averaged weights."""
        swapped = {}
        if use:
            for name, avg in self.ema.items():
                if int(avg.n_averaged) > 0:
                    swapped[name] = getattr(self.scheme, name)
                    setattr(self.scheme, name, avg.module)
        modes = {m: m.training for m in self.scheme.modules()}
        self.scheme.eval()
        try:
            with torch.no_grad():
                yield self.scheme
        finally:
            for name, live in swapped.items():
                setattr(self.scheme, name, live)
            for m, was in modes.items():
                m.train(was)

    def sample(
        self, n: int, *, labels: Tensor | list[int] | int | None = None, seed: int | None = None, ema: bool = True
    ) -> Tensor:
        """``n`` samples from the latest weights (the EMA copy when the run keeps one)."""
        if labels is not None and not isinstance(labels, Tensor):
            labels = torch.full((n,), labels) if isinstance(labels, int) else torch.tensor(labels)
        # A scheme may offer classes to sample that are not data labels (InfoGAN's code).
        num_classes = getattr(self.scheme, "num_classes", None) or getattr(self.scheme, "sample_labels", None)
        if labels is not None:
            if not num_classes:
                raise GancoreError("this model is not class-conditional: --label does not apply")
            if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
                raise GancoreError(f"label out of range: this model has classes 0..{num_classes - 1}")
            labels = labels.to(self.device)
        elif getattr(self.scheme, "num_classes", None):
            labels = torch.arange(n, device=self.device) % self.scheme.num_classes  # every class in turn
        gen = torch.Generator().manual_seed(self.recipe.train.seed if seed is None else seed)
        batch = self.batches.peek(n) if self.scheme.needs_data_to_sample else None
        request = SampleRequest(n, self.device, labels=labels, batch=batch, generator=gen)
        with self.averaged(ema) as scheme:
            return scheme.sample(request)

    def save_samples(self, hooks: CallbackList | None = None) -> Path:
        assert self.out is not None
        n = self.recipe.train.num_samples
        samples = self.sample(n)
        path = self.out / SAMPLES / f"step-{self.step:07d}.png"
        real = self.dataset.tensors["x"] if samples.dim() == 2 else None
        save_samples(samples, path, real)
        # The curves are refreshed with the samples: often enough to watch, rarely enough
        # that plotting never shows in the training speed.
        save_curves(read_metrics(self.out / METRICS_FILE), self.out / CURVES_FILE)
        if hooks:
            hooks.fire("on_samples", self, samples, path)
        return path

    def evaluate(self, metrics: list[Any] | None = None, num_samples: int | None = None) -> dict[str, float]:
        from ._evaluate import evaluate

        return evaluate(self, metrics if metrics is not None else self.recipe.eval.metrics,
                        num_samples or self.recipe.eval.num_samples)


def _means(pending: Mapping[str, list[Tensor]]) -> dict[str, float]:
    """Interval means of the logged values, fetched from the device in one transfer."""
    if not pending:
        return {}
    keys = list(pending)
    values = torch.stack([torch.stack(pending[k]).float().mean() for k in keys]).tolist()
    return dict(zip(keys, values))


def create_run(source: str | Path | Mapping[str, Any], **kwargs: Any) -> Run:
    """``gancore.create_run("gan-ring", out="runs/ring", overrides={"train.steps": 500})``."""
    return Run.create(source, **kwargs)


def load_run(path: str | Path, **kwargs: Any) -> Run:
    """``gancore.load_run("runs/ring").sample(64)``."""
    return Run.load(path, **kwargs)
