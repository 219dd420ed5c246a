"""A run: the parts a recipe names, built and wired, its state and checkpoints, and the
trained networks in use (sampling, evaluation). The training loop is in ``_training``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from . import _checkpoint as ckpt
from ._artifacts import read_metrics, save_curves, save_samples
from ._augment import Augment, Augmentation, attach
from ._batches import DeviceBatches
from ._callbacks import CallbackList
from ._device import resolve_device
from ._distributed import JobError, Processes, join, topology
from ._ema import averaged_copy
from ._footprint import check_networks
from ._errors import GancoreError
from ._guard import NonfiniteGuard
from ._optim import build_optimizer, upgrade_saved_tables
from ._parts import DataSpec, Dataset, Scheme
from ._plugins import registry as default_registry
from ._precision import check_precision
from ._random import BatchRandom
from ._documents import add_callbacks, apply_overrides, load_source, parse_override, read_document
from ._recipe import Recipe
from ._registry import Registry
from ._sampling import SampleRequest
from ._state import RunState, process_seed
from ._training import CHECKPOINTS, CURVES_FILE, METRICS_FILE, RECIPE_FILE, SAMPLES, TrainingLoop
from ._updates import Updates

# Only these may change when a run is resumed: they do not change what the weights are.
RESUMABLE_KEYS = ("train.steps", "train.device", "train.log_every", "train.sample_every",
                  "train.checkpoint_every", "train.keep_checkpoints", "train.num_samples", "eval.every",
                  "train.on_nonfinite", "train.skip_limit", "train.backend", "train.sync_batchnorm", "callbacks")


def check_resumable(overrides: Mapping[str, Any] | list[str]) -> None:
    """Refuse a resume that would change what the weights are (a key outside RESUMABLE_KEYS)."""
    keys = [".".join(parse_override(o)[0]) for o in overrides] if isinstance(overrides, list) else list(overrides)
    for key in keys:
        if key not in RESUMABLE_KEYS:
            raise JobError(f"--set {key}: cannot change when resuming (only {', '.join(RESUMABLE_KEYS)})")


class Run(RunState, TrainingLoop):
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
        where = topology()
        self.device = resolve_device(device or recipe.train.device, local_rank=where.local_rank if where.distributed else None)
        if device is not None:
            recipe.train.device = device  # the resolved recipe records where it ran
        # The other processes of a torchrun job (a job of one: nothing to do).
        self.processes: Processes = join(where, recipe.train.backend, self.device)
        self._replicas: dict[str, torch.nn.Module] | None = None
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
        upgrade_saved_tables(doc, reg)
        for slot, value in list(doc.items()):
            if isinstance(value, dict) and value.get("name") == "<object>":
                if slot not in objects:
                    raise GancoreError(
                        f"this run's {slot} was a Python object ({value.get('class')}); pass it again: "
                        f"Run.load(path, {slot}=...)"
                    )
                del doc[slot]
        if overrides:
            check_resumable(overrides)
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
        if run.processes.distributed:
            found = run.processes.gather(run.step)
            if len(set(found)) > 1:
                raise JobError(f"the processes loaded different checkpoints of {path} (steps {', '.join(map(str, found))}): "
                               "the run directory must be on a file system every machine sees")
        return run

    def _build(self) -> None:
        r, reg = self.recipe, self.registry
        check_precision(r.train.amp, self.device)
        world = self.processes.world
        if r.train.batch_size % world:
            raise JobError(f"train.batch_size: {r.train.batch_size} is the global batch and must divide evenly "
                               f"among the {world} processes")
        torch.manual_seed(r.train.seed)  # network initialisation repeats with the seed (on every process)
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
        keep_part_state(scheme, built)
        if r.augments:
            augments = [reg.build(kind, name, params, spec=spec) for kind, name, params in r.augments]
            for part, (_, name, _) in zip(augments, r.augments):
                if not isinstance(part, Augment):
                    raise TypeError(f"augment {name!r} did not build a gancore.Augment")
            scheme.augmentation = Augmentation(augments)  # a submodule: its state is checkpointed
            attach(scheme.augmentation, critics_of(scheme, built))
        self.scheme: Scheme = scheme.to(self.device)
        for module in self.scheme.modules():
            pack = getattr(module, "pack", 1)
            local = r.train.batch_size // world
            if isinstance(pack, int) and pack > 1 and local % pack:
                share = f" (each of {world} processes gets {local})" if world > 1 else ""
                raise JobError(f"train.batch_size: {r.train.batch_size}{share} is not divisible by the critic's pack size {pack}")
        if r.train.sync_batchnorm and world > 1 and self.device.type == "cuda":
            # In place below the scheme: same parameters and state_dict keys.
            for names in self.scheme.networks.values():
                for net_name in names:
                    setattr(self.scheme, net_name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(getattr(self.scheme, net_name)))
        params = self.scheme.group_parameters()
        self.optimizers = {g: build_optimizer(reg, r.optimizers[g], params[g]) for g in self.scheme.groups()}
        # Syncing to check a value is free on the CPU; elsewhere the guard defers its checks.
        # Several processes agree on the verdicts only where they meet anyway (log lines,
        # checkpoints), so they defer too.
        deferred = self.device.type != "cpu" or self.processes.distributed
        self.guard = NonfiniteGuard(r.train.on_nonfinite, r.train.skip_limit, deferred=deferred, processes=self.processes)
        self.updates = Updates(self.optimizers, params, r.optim, device=self.device, amp=r.train.amp,
                               guard=self.guard, total_steps=r.train.steps)
        # Per-row draws (latent codes) come from their own generator, shared by the processes;
        # the default generator, which dropout uses, gets a stream of its own on each process.
        self.rows = BatchRandom.seeded(r.train.seed, self.device, self.processes.rank, world)
        if self.processes.rank:
            torch.manual_seed(process_seed(r.train.seed, self.processes.rank))
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
            self._batches = DeviceBatches(tensors, self.recipe.train.batch_size, self.recipe.train.seed,
                                          rank=self.processes.rank, world=self.processes.world)
        return self._batches

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


def create_run(source: str | Path | Mapping[str, Any], **kwargs: Any) -> Run:
    """``gancore.create_run("gan-ring", out="runs/ring", overrides={"train.steps": 500})``."""
    return Run.create(source, **kwargs)


def load_run(path: str | Path, **kwargs: Any) -> Run:
    """``gancore.load_run("runs/ring").sample(64)``."""
    return Run.load(path, **kwargs)


def keep_part_state(scheme: Scheme, built: Mapping[str, Any]) -> None:
    """Parts with state of their own (``nn.Module`` regularizers with moving averages, ...)
    that the scheme holds outside its submodules (in a plain list) become submodules of
    ``scheme.parts``, so every checkpoint has their state and a resume restores it."""
    inside = {id(m) for m in scheme.modules()}
    stateful: dict[str, torch.nn.Module] = {}
    for slot, value in built.items():
        parts = value if isinstance(value, list) else [value]
        modules = [p for p in parts if isinstance(p, torch.nn.Module) and id(p) not in inside]
        if not modules:
            continue
        stateful[slot] = torch.nn.ModuleList(modules) if isinstance(value, list) else modules[0]
    if stateful:
        scheme.parts = torch.nn.ModuleDict(stateful)


def critics_of(scheme: Scheme, built: Mapping[str, Any]) -> list[torch.nn.Module]:
    """The networks built for the scheme's critic slots: what an augmentation is hooked onto."""
    out: list[torch.nn.Module] = []
    for slot_name, slot in scheme.slots.items():
        if slot.kind != "critic":
            continue
        value = built.get(slot_name)
        for part in value if isinstance(value, list) else [value]:
            if isinstance(part, torch.nn.Module) and all(part is not c for c in out):
                out.append(part)
    if not out:
        raise GancoreError(f"[[augment]]: scheme {type(scheme).__name__} has no critic slot to augment the inputs of")
    return out
