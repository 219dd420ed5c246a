"""``gancore export`` and ``gancore.export_generator``: a run's generator written for use
outside gancore, in the formats of ``_export_formats.py``, with a model card."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ._artifacts import save_samples
from ._errors import GancoreError
from ._export_formats import (CARD_FILE, CONFIG_FILE, CONFIG_FORMAT, DEFAULT_FORMATS, ONNX_FILE, PROGRAM_FILE, SAMPLE_FILE,
                              WEIGHTS_FILE, cpu_copy, parse_formats, prepare_folder, spec_json, write_onnx, write_program,
                              write_weights)
from ._latents import latent_size
from ._model_card import write_card
from ._plugins import host


def uses_ema(run: Any, ema: bool) -> bool:
    """Whether the generator exported is an EMA copy: asked for, kept by the run, and
    started (before ``ema.start`` the run samples its live weights, and so does export)."""
    average = run.ema.get("generator") if ema else None
    return average is not None and int(average.n_averaged) > 0


def export_run(run: Any, folder: Path, formats: Sequence[str], *, ema: bool = True) -> list[str]:
    """The run's generator (its EMA copy unless ``ema=False``) written to ``folder`` in
    ``formats``; returns the names of the files written (the model card and sample grid
    aside, which the caller writes)."""
    from . import __version__  # the package's, set after its modules are imported

    latent_dim = latent_size(run.scheme)
    num_classes = getattr(run.scheme, "num_classes", None) or None
    part = run.recipe.slots.get("generator")
    if "safetensors" in formats and part is None:
        raise GancoreError("this run's generator was given as a Python object, not a registered part: load_generator "
                           "could not rebuild it; export formats=['pt2'] (or onnx) only")
    # The codes the exported graph takes are the codes sampling draws: a scheme that samples
    # otherwise (InfoGAN's structured codes) is refused here, with one line.
    probe = torch.zeros(1, latent_dim)
    run.sample(1, latents=probe, labels=0 if num_classes else None, ema=ema)
    with run.averaged(ema) as scheme:
        generator = cpu_copy(scheme.generator)
    prepare_folder(folder, formats)
    written = []
    if "pt2" in formats:
        write_program(generator, latent_dim, num_classes, folder / PROGRAM_FILE)
        written.append(PROGRAM_FILE)
    if "onnx" in formats:
        write_onnx(generator, latent_dim, num_classes, folder / ONNX_FILE)
        written.append(ONNX_FILE)
    if "safetensors" in formats:
        _, name, params = part
        plugin = run.registry.get("generator", name).plugin
        info = host().plugins.get(plugin)  # for the error that names what to install where it is missing
        config = {
            "format": CONFIG_FORMAT,
            "gancore_version": __version__,
            "generator": {"name": name, "params": params, "plugin": plugin,
                          "distribution": getattr(info, "distribution", None)},
            "latent_dim": latent_dim,
            "num_classes": num_classes,
            "data": spec_json(run.spec),
            "run": {"recipe": run.name, "step": run.step, "ema": uses_ema(run, ema)},
            "inputs": {"z": f"float32, N x {latent_dim}, standard normal",
                       **({"labels": f"int64, N, classes 0..{num_classes - 1}"} if num_classes else {})},
            "output": "float32, N x " + " x ".join(map(str, run.spec.shape)) + " (images in [-1, 1])",
        }
        write_weights(generator, config, folder)
        written += [WEIGHTS_FILE, CONFIG_FILE]
    return written


CARD_SAMPLES = 64  # the model card's sample grid


def export_generator(run: Any, out: str | Path, *, formats: Sequence[str] = DEFAULT_FORMATS, ema: bool = True,
                     hub_repo: str | None = None) -> list[Path]:
    """``gancore export``: the run's generator (its EMA copy unless ``ema=False``) written
    to the folder ``out`` in ``formats`` (of ``pt2``, ``safetensors``, ``onnx``), with a
    model card (``README.md``: the recipe, the newest evaluation, how to load it) and a grid
    of its samples (``sample.png``). ``hub_repo`` only names the repository in the card's
    loading example (``export`` then pushes the folder). Returns the files written."""
    folder = Path(out)
    chosen = parse_formats(",".join(formats))
    written = export_run(run, folder, chosen, ema=ema)
    save_samples(run.sample(CARD_SAMPLES, ema=ema), folder / SAMPLE_FILE)
    write_card(run, folder, written, ema=uses_ema(run, ema), repo=hub_repo)
    return [folder / name for name in [*written, CARD_FILE, SAMPLE_FILE]]
