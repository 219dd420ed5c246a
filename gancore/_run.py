"""A run: the parts a recipe names, built and wired, their state and checkpoints, the
training loop (``Run.train``: read it top to bottom) and the trained networks in use
(sampling, evaluation).

The engine (``Run.engine``) owns where and how the run computes: device, precision,
processes, the divergence guard and every update. A scheme says what a step optimises,
through the ``gancore.Step`` it is handed.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from . import _checkpoint as ckpt
from . import _rundir as rundir
from ._artifacts import read_metrics, save_curves, save_samples
from ._assemble import build_scheme, check_pack, to_channels_last
from ._batches import DeviceBatches, StreamedBatches, batches_for
from ._distributed import JobError, own_state, process_seed, restore_streams
from ._engine import Engine
from ._environment import describe, record_session
from ._errors import DivergenceError, GancoreError
from ._datasets import build_dataset
from ._documents import new_recipe, stored_recipe
from ._ema import EmaLength, averaged_copy, swapped_in
from ._evaluate import (applicable_metrics, best_value, generated_like, latent_generator, metric_specs, real_subset,
                        score, warn_if_costly)
from ._footprint import check_networks
from ._latents import check_truncation
from ._optim import build_optimizer
from ._parts import Callback, DataSpec, Dataset, SampleRequest, Scheme
from ._plugins import plugin_versions
from ._plugins import registry as default_registry
from ._random import Random
from ._recipe import Recipe
from ._registry import Registry
from ._sampling import refuse_unused_codes, requested_labels
from ._schedule import logged, set_scheduled
from ._session import CallbackList, Meter, refuse_untrainable, training_session
from ._step import Augmentation, Step
from ._threads import choose_threads, with_threads

Reporter = Callable[[dict[str, Any]], None]


class Run:
    """Build with ``gancore.create_run`` (a new run) or ``gancore.load_run`` (a run directory)."""

    def __init__(self, recipe: Recipe, *, name: str = "run", out: str | Path | None = None,
                 registry: Registry | None = None, device: str | None = None, spec: DataSpec | None = None) -> None:
        self.recipe, self.name = recipe, name
        self.registry = registry or default_registry()
        self.out = Path(out) if out is not None else None
        self.engine = Engine(recipe.train, device=device)
        self.device, self.processes = self.engine.device, self.engine.processes
        if device is not None:
            recipe.train.device = device  # the resolved recipe records where it ran
        self.step = 0  # training steps taken
        self.seconds = 0.0  # time spent training, over every session of the run
        self.target_steps = recipe.train.steps
        self.finite = True  # whether the loaded checkpoint's weights are finite
        self.best: dict[str, Any] | None = None  # the best checkpoint's metric, value and step
        self._eval_costs: tuple[float, float] | None = None  # (training seconds, evaluation seconds) at the last evaluation
        self.new = False  # a new run, whose directory must be new or empty when it starts writing
        self.advice = rundir.PYTHON  # the words a refused directory's error uses (the CLI sets its own)
        self.read_only: str | None = None  # why this run may be sampled but not trained
        self._dataset: Dataset | None = None
        self._spec = spec  # a checkpoint's: the networks are built without reading the data
        self._batches: DeviceBatches | StreamedBatches | None = None
        self._resume_drawn: int | None = None
        self._build()

    @classmethod
    def create(cls, source: str | Path | Mapping[str, Any], *, overrides: Mapping[str, Any] | list[str] | None = None,
               out: str | Path | None = None, device: str | None = None, registry: Registry | None = None,
               log_to: Sequence[str] = (), threads: int | None = None, **objects: Any) -> Run:
        """A new run from a recipe (a name, a file or a dict), optional ``--set``-style
        overrides, callbacks to add by name (``log_to=["tensorboard"]``), the CPU threads
        to train with (``threads=``, the recipe's ``train.threads``), and optional objects
        for slots (``generator=MyModule()``)."""
        if out is not None:
            rundir.check_new(Path(out))
        reg = registry or default_registry()
        overrides = with_threads(overrides, threads)
        name, recipe = new_recipe(source, reg, overrides=overrides, log_to=log_to, objects=objects)
        run = cls(recipe, name=name, out=out, registry=reg, device=device)
        run.new = True
        return run

    @classmethod
    def load(cls, path: str | Path, *, overrides: Mapping[str, Any] | list[str] | None = None, device: str | None = None,
             registry: Registry | None = None, step: int | None = None, best: bool = False, log_to: Sequence[str] = (),
             threads: int | None = None, **objects: Any) -> Run:
        """An existing run directory with its latest checkpoint, to resume or sample; or
        the checkpoint of ``step``, or its best-scoring one (``best=True``, kept when
        ``[eval]`` evaluates during training), to sample and evaluate (training on from a
        checkpoint older than the newest is refused: it would fork the run's history)."""
        path, reg = Path(path), registry or default_registry()
        if best and step is not None:
            raise GancoreError("give a step or best, not both")
        recipe = stored_recipe(path, reg, overrides=with_threads(overrides, threads), log_to=log_to, objects=objects)
        folder = path / rundir.CHECKPOINTS
        # Loaded on the CPU, then copied into the networks wherever they are: the checkpoint
        # says what the data looks like before the networks are built.
        state, read_only = ckpt.choose(folder, step=step, best=best, map_location="cpu")
        spec = ckpt.stored_spec(state) if state is not None else None
        run = cls(recipe, name=path.name, out=path, registry=reg, device=device, spec=spec)
        run.read_only = read_only
        if state is not None:
            run.load_state_dict(state)
        run.best = ckpt.best_record(folder)
        found = run.processes.gather(run.step)
        if len(set(found)) > 1:
            raise JobError(f"the processes loaded different checkpoints of {path} (steps {', '.join(map(str, found))}): "
                           "the run directory must be on a file system every machine sees")
        return run

    # -- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        r, reg, world, rank = self.recipe, self.registry, self.processes.world, self.processes.rank
        if r.train.batch_size % world:
            raise JobError(f"train.batch_size: {r.train.batch_size} is the global batch and must divide evenly "
                           f"among the {world} processes")
        torch.manual_seed(r.train.seed)  # network initialisation repeats with the seed (on every process)
        # Per-row draws (latent codes, penalties' and augmentations' values) come from the
        # run's own generator, shared by the processes; the default generator, which
        # dropout uses, gets a stream of its own on each process.
        self.random = Random.seeded(r.train.seed, self.device, rank, world)
        spec = self.spec
        check_networks(reg, r.slots, spec, self.device)  # before anything is allocated
        self.scheme, self.parts = build_scheme(r, reg, spec, self.random)
        self.scheme.to(self.device)
        if r.train.channels_last:
            to_channels_last(self.scheme)  # before the optimizers and EMA copies, which then share the format
        self.augmentation: Augmentation | None = getattr(self.scheme, "augmentation", None)
        check_pack(self.scheme, r.train.batch_size, world)
        if r.train.sync_batchnorm and world > 1 and self.device.type == "cuda":
            for net_name in self.networks():  # in place below the scheme: same parameters and state_dict keys
                setattr(self.scheme, net_name, nn.SyncBatchNorm.convert_sync_batchnorm(getattr(self.scheme, net_name)))
        params = self.scheme.group_parameters()
        self.optimizers = {g: build_optimizer(reg, r.optimizers[g], params[g]) for g in self.scheme.groups()}
        if rank:
            torch.manual_seed(process_seed(r.train.seed, rank))
        self.ema: dict[str, AveragedModel] = {}
        self.ema_length = EmaLength(r.ema.decay, r.ema.half_life)  # what a schedule of the EMA's length sets
        if r.ema.on:
            for net_name in self.scheme.averaged_networks():
                self.ema[net_name] = averaged_copy(getattr(self.scheme, net_name), r.ema.decay, half_life=r.ema.half_life,
                                                   rampup=r.ema.rampup, batch_size=r.train.batch_size, start=r.ema.start,
                                                   length=self.ema_length)
        self.engine.setup(self.optimizers, params, r.optim, schedules=r.schedules,
                          set_value=functools.partial(set_scheduled, self.parts, self.ema_length))
        if r.train.compile:
            for net_name in self.networks():  # in place (nn.Module.compile): state_dict keys unchanged
                getattr(self.scheme, net_name).compile()

    def networks(self) -> dict[str, nn.Module]:
        """The scheme's trained networks by attribute name (every group's)."""
        return {name: getattr(self.scheme, name) for names in self.scheme.networks.values() for name in names}

    # -- data -------------------------------------------------------------------------------

    @property
    def dataset(self) -> Dataset:
        """The training data, read when first needed: training and metrics that compare
        with real data need it; building, sampling and a checkpoint's spec do not."""
        if self._dataset is None:
            self._dataset = build_dataset(self.recipe, self.registry)
        return self._dataset

    @property
    def spec(self) -> DataSpec:
        if self._spec is None:
            self._spec = self.dataset.spec
        return self._spec

    @property
    def batches(self) -> DeviceBatches | StreamedBatches:
        if self._batches is None:
            t = self.recipe.train
            self._batches = batches_for(self.dataset.tensors, self.device, t.batch_size, t.seed, rank=self.processes.rank,
                                        world=self.processes.world, channels_last=t.channels_last)
        return self._batches

    # -- training ---------------------------------------------------------------------------

    def train(self, steps: int | None = None, *, report: Reporter | None = None,
              callbacks: Sequence[Callback] = (), progress: bool = False) -> Run:
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
        t, main = self.recipe.train, self.processes.on_main  # main: only the first process writes
        total = self.target_steps = steps or t.steps
        refuse_untrainable(self)
        choose_threads(t.threads, device=self.device, distributed=self.processes.distributed)
        if self._spec is not None:  # built from a checkpoint: the data must still fit the networks
            ckpt.check_same_data(self.dataset.spec, self._spec)
        batches = self.batches
        if self._resume_drawn is not None:
            batches.drawn, self._resume_drawn = self._resume_drawn, None
        if self.recipe.eval.every and self.step < total:
            # A metric that cannot score this data fails now, not after the training.
            best_value(self.registry, self.eval_metrics(), self.recipe.eval.best)
            main(lambda: self.evaluate(num_samples=min(self.recipe.eval.num_samples, 64)))
        run_callbacks = main(lambda: CallbackList.of(self.registry, self.recipe.callbacks, callbacks, progress)) or CallbackList([])
        out = self.out
        if self.new and out is not None:  # before the lock file goes into a folder that is not the run's
            main(lambda: rundir.check_new(out, self.advice))
        self.engine.wrap(self.networks(), self.scheme.networks_with_unused_parameters)
        meter = Meter(self.step)
        with training_session(self, run_callbacks, out=self.out, processes=self.processes, claim=self._claim_directory,
                              save=self.save_checkpoint, guard=self.engine.guard) as stops:
            main(lambda: run_callbacks.fire("on_start", self))
            self.scheme.train()
            while self.step < total:
                step = Step(self.step, self.engine, batches, self.random, self.augmentation)
                with self.engine.step(self.step, self.scheme):
                    logs = self.scheme.train_step(step)
                self.step += 1
                if self.ema and self.step > self.recipe.ema.start:
                    for net_name, avg in self.ema.items():
                        avg.update_parameters(getattr(self.scheme, net_name))
                meter.add(logs | self.engine.logs)
                done = self.step == total
                evaluate = bool(self.recipe.eval.every) and (self.step % self.recipe.eval.every == 0 or done)
                if self.step % t.log_every == 0 or done or evaluate:
                    row = self._metrics_row(meter, evaluate)
                    main(lambda: self._log(row, report, total, run_callbacks))
                if evaluate and self.out is not None:
                    self._keep_if_best(row)
                if self.out is not None and ((t.sample_every and self.step % t.sample_every == 0) or done):
                    self.engine.guard.check()
                    with self.synchronised():
                        main(lambda: self.save_samples(run_callbacks))
                if self.out is not None and ((t.checkpoint_every and self.step % t.checkpoint_every == 0) or done):
                    saved = self.save_checkpoint()
                    main(lambda: run_callbacks.fire("on_checkpoint", self, saved))
                if not done:
                    stops.check(self.processes.any)  # between steps, never inside one; all processes agree
        run_callbacks.fire("on_end", self)
        return self

    def _claim_directory(self) -> None:
        """A new run starts in a new or empty folder (checked again here, under the lock:
        another process may have started a run in it since); write the resolved recipe."""
        assert self.out is not None
        if self.new:
            rundir.check_new(self.out, self.advice)
        self.new = False
        rundir.prepare(self.out, self.recipe.resolved(), self.step)
        # The plugins whose parts this run's registry holds, with their versions where the
        # process's plugin host loaded them (a registry built by hand has none to give).
        versions = plugin_versions()
        used = {entry.plugin: versions.get(entry.plugin, "unknown") for entry in self.registry.entries()}
        record_session(self.out, self.step, describe(self.device, self.processes.world, used))

    def _metrics_row(self, meter: Meter, evaluate: bool) -> dict[str, Any]:
        self.engine.guard.check()  # nothing is logged past a divergence
        row, elapsed = meter.row(self.step, self.processes)
        self.seconds += elapsed
        row = {"step": self.step, "seconds": round(self.seconds, 3)} | row
        row |= logged(self.engine.values)  # the scheduled values of the last step
        if self.recipe.train.on_nonfinite == "skip" or self.recipe.train.amp == "fp16":
            row["skipped_updates"] = self.engine.guard.skipped
        if evaluate:
            started = time.perf_counter()
            with self.synchronised():
                row.update(self.processes.on_main(self.evaluate) or {})
            self._eval_costs = warn_if_costly(self._eval_costs, self.seconds, time.perf_counter() - started)
        return row

    def _keep_if_best(self, row: Mapping[str, Any]) -> None:
        """After an evaluation: when its value beats the best so far, this step's
        checkpoint becomes ``checkpoints/best.pt`` (all processes take part in the save)."""
        chosen = best_value(self.registry, self.eval_metrics(), self.recipe.eval.best)
        if chosen is None:
            return
        key, higher = chosen
        value = row.get(key)
        if self.processes.any(int(ckpt.beats(value, self.best, key, higher))):  # the first process evaluated; the others follow its decision
            self.best = {"metric": key, "value": value, "step": self.step}
            self.save_checkpoint(best=True)

    def _log(self, row: dict[str, Any], report: Reporter | None, total: int, callbacks: CallbackList) -> None:
        if self.out is not None:
            rundir.append_metrics(self.out, row)
        if report is not None:
            report({**row, "total": total})
        callbacks.fire("on_log", self, row)

    # -- state and checkpoints ----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's contents. With several processes it is called on all of them
        (what differs between them is gathered) and written by the first."""
        rng: dict[str, Any] = {"cpu": torch.get_rng_state(), "batch": self.random.state_dict()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        scheme = self.scheme.state_dict()
        ema = {k: e.state_dict() for k, e in self.ema.items()}
        if self.processes.distributed:
            # What differs between the processes: random streams, the scheme's state outside
            # its networks (a history pool of this process's own fakes) and batch-norm
            # running statistics. The checkpoint's own statistics are their mean.
            own = own_state(scheme, ema, set(self.networks())) | {"cpu": rng["cpu"]}
            if self.device.type == "cuda":
                own["cuda"] = torch.cuda.get_rng_state(self.device)
            rng["processes"] = self.processes.gather(own)
            mean = self.processes.averaged_statistics
            scheme, ema = mean(scheme), {k: mean(v) for k, v in ema.items()}
        return {
            "format": ckpt.FORMAT,
            "recipe_name": self.name,  # what the run was made from: its folder may be named otherwise
            "step": self.step,
            "seconds": self.seconds,
            "scheme": scheme,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "updates": self.engine.state_dict(),
            "ema": ema,
            "batches_drawn": self.batches.drawn if self._batches is not None else 0,
            "rng": rng,
            "data": ckpt.spec_entry(self.spec),  # what sampling needs of the data, without it
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
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
        self.engine.load_state_dict(state.get("updates", {}))
        self.step = int(state["step"])
        self.name = str(state.get("recipe_name", self.name))  # older checkpoints: the folder's name
        self.seconds = float(state.get("seconds", 0.0))
        self._resume_drawn = int(state.get("batches_drawn", 0))
        self.finite = bool(state["finite"]) if "finite" in state else ckpt.state_is_finite([state["scheme"], state.get("ema")])
        try:
            self.random.load_state_dict(state["rng"].get("batch"), self.step)
            restore_streams(state["rng"], self.processes, seed=self.recipe.train.seed, step=self.step,
                            device=self.device, scheme=self.scheme, ema=self.ema)
        except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
            raise GancoreError(f"the checkpoint's random states do not load: {str(exc).splitlines()[0]}") from None

    def require_finite(self) -> None:
        """A clear error when the loaded weights are not finite (a diverged run)."""
        if self.finite:
            return
        message = f"the weights at step {self.step} are not finite (the run diverged)"
        good = ckpt.newest_finite(self.out / rundir.CHECKPOINTS) if self.out is not None else None
        if good is not None:
            message += f"; the newest finite checkpoint is step {good[0]}: use --step {good[0]}"
        raise GancoreError(message)

    def save_checkpoint(self, best: bool = False) -> Path:
        """Write a checkpoint of this step (with several processes: called on all of them,
        written by the first, which the others wait for); ``best=True`` writes the run's
        best checkpoint (``checkpoints/best.pt``, which pruning leaves alone)."""
        if self.out is None:
            raise GancoreError("this run has no directory to save checkpoints to (give out=...)")
        self.engine.guard.check()
        state = self.state_dict()
        state["finite"] = ckpt.state_is_finite([state["scheme"], state["ema"]])
        if self.best is not None:
            state["best"] = dict(self.best)
        if not state["finite"] and self.engine.guard.active:
            raise DivergenceError(f"step {self.step}: the weights are not finite; training diverged", self.step)
        drifted = self.processes.parameters_agree(self.networks() | {f"ema.{k}": e for k, e in self.ema.items()})
        if drifted:
            raise JobError(f"step {self.step}: the processes' copies of {', '.join(drifted)} differ: their gradients "
                           "were not all reduced (a network that computes outside its forward and its own methods?)")
        folder = self.out / rundir.CHECKPOINTS
        path = folder / ckpt.BEST_CHECKPOINT if best else ckpt.checkpoint_path(folder, self.step)

        def write() -> None:
            ckpt.save_atomic(state, path)
            if not best:
                ckpt.prune(folder, self.recipe.train.keep_checkpoints, newest_is_finite=state["finite"])

        self.processes.on_main(write)
        return path

    def synchronised(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block, batch-norm statistics (live networks and EMA copies) are their
        mean over the processes, for whatever reads them; nothing to do in one process."""
        return self.processes.statistics_averaged([self.scheme, *self.ema.values()])

    # -- using the trained networks -----------------------------------------------------------

    def averaged(self, use: bool = True) -> contextlib.AbstractContextManager[Scheme]:
        """The scheme with its EMA copies in place of the live networks (where the run
        keeps them and they have started), in eval mode and without gradients: sampling,
        evaluation and a scheme's own helpers (``translate_ab``, ...) inside the block see
        the averaged weights."""
        return swapped_in(self.scheme, self.ema if use else {})

    def sample(self, n: int, *, labels: Tensor | list[int] | int | None = None, seed: int | None = None,
               ema: bool = True, truncation: float | None = None, latents: Tensor | None = None) -> Tensor:
        """``n`` samples from the latest weights (the EMA copy when the run keeps one)."""
        return self.sample_with_labels(n, labels=labels, seed=seed, ema=ema, truncation=truncation, latents=latents)[0]

    def sample_with_labels(self, n: int, *, labels: Tensor | list[int] | int | None = None, seed: int | None = None,
                           ema: bool = True, truncation: float | None = None,
                           latents: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``n`` samples and the classes they were drawn for (None for an unconditional
        model). Without ``labels``, a conditional model draws the classes its scheme
        chooses (``Scheme.sample_classes``: every class in turn, or InfoGAN's grid rows).
        ``truncation`` (psi > 0) draws the codes within [-psi, psi] (or in the generator's
        own terms: ``Generator.truncated``); ``latents`` (n x latent_dim) are the codes to
        use instead of drawing them. Both need a scheme that samples standard normal codes
        through ``SampleRequest.latent``; any other is refused."""
        labels = requested_labels(self.scheme, n, labels)
        if labels is not None:
            labels = labels.to(self.device)
        generator = torch.Generator().manual_seed(self.recipe.train.seed if seed is None else seed)
        batch = self.batches.peek(n) if self.scheme.needs_data_to_sample else None
        request = SampleRequest(n, self.device, labels=labels, batch=batch, generator=generator,
                                truncation=check_truncation(truncation), latents=latents)
        with self.averaged(ema) as scheme:
            try:
                # In the ordinary layout whatever train.channels_last made of the networks' outputs.
                samples = scheme.sample(request).contiguous()
            except ValueError as exc:
                if latents is None:
                    raise
                raise GancoreError(f"latents: {exc}") from None
        refuse_unused_codes(request, self.recipe.scheme[1])
        return samples, labels

    def save_samples(self, callbacks: CallbackList | None = None) -> Path:
        assert self.out is not None
        samples = self.sample(self.recipe.train.num_samples)
        path = self.out / rundir.SAMPLES / f"step-{self.step:07d}.png"
        save_samples(samples, path, self.dataset.tensors["x"] if samples.dim() == 2 else None)
        # The curves are refreshed with the samples: often enough to watch, rarely enough
        # that plotting never shows in the training speed.
        save_curves(read_metrics(self.out / rundir.METRICS_FILE), self.out / rundir.CURVES_FILE)
        if callbacks:
            callbacks.fire("on_samples", self, samples, path)
        return path

    def eval_metrics(self) -> list[Any]:
        """The metrics an evaluation runs: the recipe's ``eval.metrics``, else every
        registered metric that applies to the run's data."""
        return list(self.recipe.eval.metrics) or applicable_metrics(self.registry, self.spec)

    @torch.no_grad()
    def evaluate(self, metrics: list[Any] | None = None, num_samples: int | None = None, *,
                 features: Any = None) -> dict[str, float]:
        """Every metric (the recipe's ``eval.metrics`` by default) on ``num_samples``
        generated samples and as many real ones (a fixed subset of the data); ``features``
        (a name or a table) replaces the recipe's ``eval.features``."""
        metrics = self.eval_metrics() if metrics is None else metrics
        if not metrics:
            return {}
        built = [(name, self.registry.build("metric", name, params, spec=self.spec))
                 for name, params in metric_specs(self.registry, metrics, features or self.recipe.eval.features)]
        seed, wanted = self.recipe.train.seed, num_samples or self.recipe.eval.num_samples
        if any(metric.needs_real for _, metric in built):
            real = real_subset(self.dataset.tensors, min(wanted, len(self.dataset)), seed, self.device)
        else:  # every metric has its real side stored (FID's reference statistics): no data needed
            real = {}
        conditional = bool(getattr(self.scheme, "num_classes", None)) and (not real or "label" in real)
        fake = generated_like(real, wanted, conditional, seed, self.sample_with_labels)
        with self.averaged() as scheme:
            return score(built, real, fake, lambda name: latent_generator(scheme, name, self.device))


def create_run(source: str | Path | Mapping[str, Any], **kwargs: Any) -> Run:
    """``gancore.create_run("gan-ring", out="runs/ring", overrides={"train.steps": 500})``."""
    return Run.create(source, **kwargs)


def load_run(path: str | Path, **kwargs: Any) -> Run:
    """``gancore.load_run("runs/ring").sample(64)``."""
    return Run.load(path, **kwargs)
