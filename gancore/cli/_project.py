"""``gancore project``: the latent codes a trained generator reproduces given images with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import torch
import typer

from .._artifacts import image_grid, save_png_atomic
from .._errors import GancoreError
from .._evaluate import LatentGenerator
from .._image_files import read_image
from .._latents import write_latents
from .._parts import side_by_side
from .._projection import project as find_codes
from ._app import app
from ._output import console, plugin_warnings
from ._runs import (DEFAULT_DEVICE, BestOption, DeviceOption, NoEmaOption, StepOption, ThreadsOption, trained_run,
                    use_threads)

BATCH = 256  # images searched at once (times --restarts codes): the reconstruction metric's default batch
LATENTS_FILE, SHEET_FILE, DISTANCES_FILE = "latents.npz", "comparison.png", "distances.json"


@app.command()
def project(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    images: Annotated[list[Path], typer.Argument(metavar="IMAGE", help="Image files (PNG, JPEG, ...), converted to the run's channels and size.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The folder to write into (made if needed); default RUN/projection.")] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, max=100_000, help="Adam steps on the codes.")] = 300,
    restarts: Annotated[int, typer.Option("--restarts", min=1, max=64, help="Random starting codes per image; the closest reconstruction counts.")] = 4,
    lr: Annotated[float, typer.Option("--lr", min=1e-6, max=10, help="Adam's learning rate on the codes.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the starting codes.")] = 0,
    step: StepOption = None,
    best: BestOption = False,
    no_ema: NoEmaOption = False,
    device: DeviceOption = DEFAULT_DEVICE,
    threads: ThreadsOption = None,
) -> None:
    """Find the latent code of each image: the code whose sample is closest to it."""
    plugin_warnings()
    use_threads(threads)
    stems = [path.stem for path in images]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise GancoreError(f"two images are named {repeated[0]!r}: their results would share a file name; rename one")
    out = run_dir / "projection" if out is None else out
    run = trained_run(run_dir, device=device, step=step, best=best)
    target = torch.stack([read_image(path, run.spec.shape) for path in images])
    random = torch.Generator().manual_seed(seed)
    with run.averaged(not no_ema) as scheme:
        network = getattr(scheme, "generator", None)
        latent_dim = getattr(network, "latent_dim", None)
        if not isinstance(network, torch.nn.Module) or not isinstance(latent_dim, int) or getattr(scheme, "num_classes", None):
            raise GancoreError("gancore project needs an unconditional generator of latent codes (a scheme's `generator` "
                               "with an integer latent_dim); this run has none")
        generator = LatentGenerator(network, latent_dim, run.device)
        found = [find_codes(generator, target[i : i + BATCH], steps=steps, restarts=restarts, lr=lr, random=random)
                 for i in range(0, len(target), BATCH)]
        codes = torch.cat([f.codes for f in found])
        distances = torch.cat([f.distances for f in found]).double()
        reconstructions = network(codes.to(run.device)).float().cpu()
    pixels = target[0].numel()
    rows: list[dict[str, Any]] = []
    for i, (path, stem) in enumerate(zip(images, stems)):
        write_latents(out / f"{stem}.latent.npz", codes[i : i + 1])
        save_png_atomic(image_grid(reconstructions[i : i + 1], pad=0), out / f"{stem}.reconstruction.png")
        rows.append({"image": str(path), "distance": float(distances[i]), "mse": float(distances[i]) / pixels,
                     "latent": f"{stem}.latent.npz", "reconstruction": f"{stem}.reconstruction.png"})
        console.print(f"{path}: distance {float(distances[i]):.3f} (mse {float(distances[i]) / pixels:.5f})")
    write_latents(out / LATENTS_FILE, codes)
    save_png_atomic(image_grid(side_by_side(target, reconstructions)), out / SHEET_FILE)
    summary = {"run": str(run_dir), "step": run.step, "ema": not no_ema, "steps": steps, "restarts": restarts, "lr": lr,
               "seed": seed, "mean_distance": float(distances.mean()), "mean_mse": float(distances.mean()) / pixels,
               "images": rows}
    tmp = out / f".{DISTANCES_FILE}.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, out / DISTANCES_FILE)
    console.print(f"mean distance {summary['mean_distance']:.3f} over {len(images)} images; wrote the codes "
                  f"({LATENTS_FILE}), reconstructions, {SHEET_FILE} and {DISTANCES_FILE} to {out}")
