"""Contracts checked by training: schemes (through a recipe), recipes and callbacks."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._parts import Callback
from .._registry import Registry
from .._run import Run
from ._contract import expect, fail

#: Every piece of engine state a resume must restore at once (bf16 autocast, a schedule,
#: clipping, moving averages), on a run of a few tiny steps.
RESUME_SETTINGS: dict[str, Any] = {
    "train.device": "cpu", "train.batch_size": 8, "train.log_every": 1, "train.checkpoint_every": 0,
    "train.sample_every": 0, "eval.every": 0, "ema.decay": 0.9, "optim.schedule": "linear", "optim.final_lr": 0.1,
    "optim.clip_norm": 1.0, "train.amp": "bf16",
}

#: A run small enough to train in a second, on first-party parts: for callbacks, and for
#: schemes that no recipe uses (their slots' defaults fill the rest).
TINY_RUN: dict[str, Any] = {
    "description": "the contract kit's tiny run",
    "data": {"name": "ring", "num_samples": 512},
    "generator": {"name": "mlp", "latent_dim": 4, "hidden": 16, "layers": 2},
    "critic": {"name": "mlp", "hidden": 16, "layers": 2},
    "train": {"steps": 4, "batch_size": 16, "log_every": 1, "sample_every": 2, "checkpoint_every": 2,
              "num_samples": 16, "device": "cpu"},
}


def _state(run: Run) -> dict[str, Tensor]:
    out = {f"scheme.{k}": v for k, v in run.scheme.state_dict().items()}
    for name, average in run.ema.items():
        out |= {f"ema.{name}.{k}": v for k, v in average.state_dict().items()}
    return out


def _differences(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> list[str]:
    keys = sorted(set(a) | set(b), key=lambda k: (k.startswith("ema."), k))  # the networks first
    return [k for k in keys if k not in a or k not in b or not torch.equal(a[k], b[k])]


def check_scheme(
    source: str | Path | Mapping[str, Any],
    *,
    overrides: Mapping[str, Any] | None = None,
    steps: int = 4,
    registry: Registry | None = None,
    label: str = "scheme",
) -> None:
    """Train a recipe (a name, a file or a dict) for ``steps`` tiny steps, straight and
    again stopped halfway, saved and resumed: the weights and their moving averages must
    be bit-identical, every logged value finite, samples shaped like the data and drawn
    from the averaged networks when there are any."""
    settings = {**RESUME_SETTINGS, **(overrides or {}), "train.steps": steps}
    rows: list[Mapping[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="gancore-contract-") as tmp:
        try:
            straight = Run.create(source, overrides=settings, registry=registry).train(report=rows.append)
            Run.create(source, overrides=settings, registry=registry, out=Path(tmp) / "half").train(steps // 2)
            resumed = Run.load(Path(tmp) / "half", registry=registry).train()
        except Exception as exc:  # the scheme's own failure, named
            fail(label, f"training {steps} steps failed: {type(exc).__name__}: {exc}")
    differ = _differences(_state(straight), _state(resumed))
    expect(not differ, label, f"a run stopped at step {steps // 2} and resumed differs from one trained straight "
           f"to step {steps}, in {', '.join(differ[:4])}{' and others' if len(differ) > 4 else ''}: "
           "keep every piece of training state in the scheme's state_dict (buffers), or draw randomness "
           "from torch's generators")
    expect(rows, label, "logged nothing")
    for row in rows:
        bad = [k for k, v in row.items() if isinstance(v, float) and v != v]
        expect(not bad, label, f"logged non-finite {', '.join(bad)} at step {row.get('step')}")
    samples = straight.sample(4)
    expect(isinstance(samples, Tensor) and samples.shape[0] == 4, label,
           f"sample(4) gave {tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__}, not 4 samples")
    data_shape = tuple(straight.dataset.tensors["x"].shape[1:])
    if not straight.scheme.needs_data_to_sample:  # translations show source and result side by side
        expect(tuple(samples.shape[1:]) == data_shape, label,
               f"sample(4) gave samples of shape {tuple(samples.shape[1:])}, not the data's {data_shape}")
    expect(torch.isfinite(samples).all(), label, "samples are not finite")
    if straight.ema:
        live = straight.sample(4, ema=False)
        expect(not torch.equal(samples, live), label, "samples from the moving averages equal the live networks': "
               "sample must call the networks through self.<name>, which the engine swaps")


def check_recipe(name: str, *, registry: Registry | None = None, label: str | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
    """A registered recipe builds, trains two short steps, checkpoints and samples.
    ``overrides`` fill what the recipe leaves to its user (``data.root``)."""
    label = label or f"recipe {name!r}"
    settings = {"train.steps": 2, "train.device": "cpu", "train.log_every": 1, "train.batch_size": 16, **(overrides or {})}
    with tempfile.TemporaryDirectory(prefix="gancore-contract-") as tmp:
        out = Path(tmp) / "run"
        try:
            run = Run.create(name, overrides=settings, registry=registry, out=out).train()
        except Exception as exc:
            fail(label, f"does not train: {type(exc).__name__}: {exc}")
        expect((out / "checkpoints" / "step-0000002.pt").is_file(), label, "wrote no checkpoint at its last step")
        samples = run.sample(4)
        expect(torch.isfinite(samples).all(), label, "samples are not finite")


def check_callback(callback: Callback, *, registry: Registry | None = None, label: str = "callback") -> None:
    """A callback lives through a short run that logs, samples and checkpoints, a resume
    of it, and a failure report, without raising."""
    expect(isinstance(callback, Callback), label, f"is a {type(callback).__name__}, not a gancore.Callback")
    with tempfile.TemporaryDirectory(prefix="gancore-contract-") as tmp:
        out = Path(tmp) / "run"
        try:
            run = Run.create(copy.deepcopy(TINY_RUN), registry=registry, out=out).train(2, callbacks=[callback])
            run = Run.load(out, registry=registry).train(callbacks=[callback])
            callback.on_failure(run, RuntimeError("a failure the contract reports"))
        except Exception as exc:
            fail(label, f"raised {type(exc).__name__}: {exc}")
