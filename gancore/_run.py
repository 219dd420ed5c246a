"""A run: the parts a recipe names, built and wired, plus the training loop around them.

The loop is deliberately plain (read ``train``): draw, step, average, log, save. The
scheme does the GAN-specific work; everything here is the same for every GAN.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomli_w
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from ._ema import averaged_copy

from . import _checkpoint as ckpt
from ._artifacts import json_line, read_metrics, save_curves, save_samples
from ._batches import DeviceBatches
from ._device import resolve_device
from ._errors import GancoreError
from ._parts import DataSpec, Dataset, Scheme
from ._plugins import registry as default_registry
from ._recipe import Recipe, apply_overrides, load_source, parse_override, read_document
from ._registry import Registry
from ._schedule import lr_factor

RECIPE_FILE = "recipe.toml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples"

# Only these may change when a run is resumed: they do not change what the weights are.
RESUMABLE_KEYS = ("train.steps", "train.device", "train.log_every", "train.sample_every",
                  "train.checkpoint_every", "train.keep_checkpoints", "train.num_samples", "eval.every")

Reporter = Callable[[dict[str, Any]], None]


def _optimizer(params: list[nn.Parameter], s: Any) -> torch.optim.Optimizer:
    if s.name == "adam":
        return torch.optim.Adam(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay)
    if s.name == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, betas=s.betas, eps=s.eps, weight_decay=s.weight_decay)
    if s.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=s.lr, eps=s.eps, weight_decay=s.weight_decay, momentum=s.momentum)
    return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)


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
        **objects: Any,
    ) -> "Run":
        """A new run from a recipe (a name, a file or a dict), optional ``--set``-style
        overrides, and optional objects for slots (``generator=MyModule()``)."""
        if out is not None and (Path(out) / RECIPE_FILE).exists():
            raise GancoreError(f"{out} already holds a run; continue it with load_run({str(out)!r}) or choose another directory")
        reg = registry or default_registry()
        name, doc = load_source(source, reg)
        if overrides:
            doc = apply_overrides(doc, overrides)
        recipe = Recipe(doc, reg, objects=objects)
        return cls(recipe, name=name, out=out, registry=reg, device=device)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        overrides: Mapping[str, Any] | list[str] | None = None,
        device: str | None = None,
        registry: Registry | None = None,
        **objects: Any,
    ) -> "Run":
        """An existing run directory with its latest checkpoint, to resume or sample."""
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
        recipe = Recipe(doc, reg, objects=objects)
        run = cls(recipe, name=path.name, out=path, registry=reg, device=device)
        state = ckpt.load_latest(path / CHECKPOINTS, map_location=run.device)
        if state is not None:
            run.load_state(state)
        return run

    def _build(self) -> None:
        r, reg = self.recipe, self.registry
        torch.manual_seed(r.train.seed)  # network initialisation repeats with the seed
        spec = self.spec
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
        groups = self.scheme.optimizer_groups()
        self.optimizers = {g: _optimizer(groups[g], r.optim[g]) for g in self.scheme.groups}
        # Only the optimizers with a schedule are touched in the loop.
        self._scheduled = [(self.optimizers[g], r.optim[g]) for g in self.scheme.groups if r.optim[g].schedule != "constant"]
        self.ema: dict[str, AveragedModel] = {}
        if r.ema.decay > 0:
            for net_name in self.scheme.ema_networks:
                self.ema[net_name] = averaged_copy(getattr(self.scheme, net_name), r.ema.decay)

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
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))
        self._resume_drawn = int(state.get("batches_drawn", 0))
        torch.set_rng_state(state["rng"]["cpu"].cpu())
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])

    def save_checkpoint(self) -> Path:
        if self.out is None:
            raise GancoreError("this run has no directory to save checkpoints to (give out=...)")
        folder = self.out / CHECKPOINTS
        path = ckpt.checkpoint_path(folder, self.step)
        ckpt.save_atomic(self.state(), path)
        ckpt.prune(folder, self.recipe.train.keep_checkpoints)
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

    def train(self, steps: int | None = None, *, report: Reporter | None = None) -> "Run":
        """Train until step ``steps`` (the recipe's ``train.steps`` by default)."""
        t = self.recipe.train
        total = steps or t.steps
        batches = self.batches
        if self._resume_drawn is not None:
            batches.drawn = self._resume_drawn
            self._resume_drawn = None
        if self.recipe.eval.every and self.step < total:
            # A metric that cannot score this data fails now, not after the training.
            self.evaluate(num_samples=min(self.recipe.eval.num_samples, 64))
        if self.out is not None:
            self._prepare_directory()
        self.scheme.train()
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16) if t.amp == "bf16" else contextlib.nullcontext()
        )
        pending: dict[str, list[Tensor]] = {}
        started, steps_at_start = time.perf_counter(), self.step
        last_log_time, last_log_step = started, self.step
        try:
            while self.step < total:
                for optimizer, o in self._scheduled:
                    lr = o.lr * lr_factor(o.schedule, self.step, t.steps, o.final_lr)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                with autocast:
                    logs = self.scheme.train_step(batches, self.optimizers, self.step)
                self.step += 1
                if self.ema and self.step > self.recipe.ema.start:
                    for net_name, avg in self.ema.items():
                        avg.update_parameters(getattr(self.scheme, net_name))
                for key, value in logs.items():
                    pending.setdefault(key, []).append(value)
                done = self.step == total
                evaluate = bool(self.recipe.eval.every) and (self.step % self.recipe.eval.every == 0 or done)
                if self.step % t.log_every == 0 or done or evaluate:
                    now = time.perf_counter()
                    # One host sync per log line, not per step.
                    means = _means(pending)
                    pending = {}
                    self.seconds += now - last_log_time
                    row = {"step": self.step, "seconds": round(self.seconds, 3),
                           "steps_per_sec": round((self.step - last_log_step) / max(now - last_log_time, 1e-9), 3), **means}
                    last_log_time, last_log_step = now, self.step
                    if evaluate:
                        row.update(self.evaluate())
                    self._log(row, report, total)
                if self.out is not None:
                    if (t.sample_every and self.step % t.sample_every == 0) or done:
                        self.save_samples()
                    if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or done:
                        self.save_checkpoint()
        except KeyboardInterrupt:
            if self.out is not None and self.step > steps_at_start:
                self.save_checkpoint()
            raise
        finally:
            self.scheme.train()
        return self

    def _log(self, row: dict[str, Any], report: Reporter | None, total: int) -> None:
        if self.out is not None:
            with open(self.out / METRICS_FILE, "a") as fh:
                fh.write(json_line(row) + "\n")
        if report is not None:
            report({**row, "total": total})

    # -- using the trained networks -------------------------------------------------------

    def _ema_networks(self, use_ema: bool) -> dict[str, nn.Module]:
        if not use_ema or not self.ema:
            return {}
        return {k: e.module for k, e in self.ema.items() if int(e.n_averaged) > 0}

    @torch.no_grad()
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
        gen = torch.Generator().manual_seed(self.recipe.train.seed if seed is None else seed)
        networks = self._ema_networks(ema)
        modes = {m: m.training for m in self.scheme.modules()}
        self.scheme.eval()
        for m in networks.values():
            m.eval()
        try:
            batch = None
            if getattr(self.scheme, "needs_data_to_sample", False):
                batch = self.batches.peek(n)
            out = self.scheme.sample(n, networks=networks, labels=labels, batch=batch, generator=gen)
        finally:
            for m, was in modes.items():
                m.train(was)
        return out

    def save_samples(self) -> Path:
        assert self.out is not None
        n = self.recipe.train.num_samples
        samples = self.sample(n)
        path = self.out / SAMPLES / f"step-{self.step:07d}.png"
        real = self.dataset.tensors["x"] if samples.dim() == 2 else None
        save_samples(samples, path, real)
        # The curves are refreshed with the samples: often enough to watch, rarely enough
        # that plotting never shows in the training speed.
        save_curves(read_metrics(self.out / METRICS_FILE), self.out / CURVES_FILE)
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
