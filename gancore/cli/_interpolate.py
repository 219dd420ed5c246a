"""``gancore interpolate``: a looping walk through the codes of some seeds, as an animation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from .._animation import frames_of, write_animation
from .._errors import GancoreError
from .._latents import latent_size, loop_path, seed_code
from ._app import app
from ._output import console, plugin_warnings
from ._paths import output_file
from ._runs import (DEFAULT_DEVICE, BestOption, DeviceOption, NoEmaOption, StepOption, ThreadsOption, trained_run,
                    use_threads)

CHUNK = 256  # frames generated at once: bounds memory for long walks


def integers(text: str, option: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2], or one error line naming the option."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise GancoreError(f"{option} {text}: give integers separated by commas, such as 0,1,2,3") from None


@app.command()
def interpolate(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    seeds: Annotated[str, typer.Option("--seeds", metavar="S1,S2,...", help="The seeds whose codes the walk goes through, in order, then back to the first (at least 2).")] = "0,1,2,3",
    frames: Annotated[int, typer.Option("--frames", min=2, help="Frames of the whole loop (all seeds and back), evenly spaced along it.")] = 48,
    out: Annotated[Optional[Path], typer.Option("--out", help="FILE.gif, or FILE.mp4 with the video extra, or a folder to write interpolation.gif into; default RUN/interpolation.gif.")] = None,
    label: Annotated[Optional[int], typer.Option("--label", help="Class of every frame (class-conditional models).")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", metavar="L1,L2,...", help="A class per seed (class-conditional models): each frame takes the class of the nearer seed.")] = None,
    fps: Annotated[float, typer.Option("--fps", min=0.1, max=100, help="Frames per second.")] = 12.0,
    scale: Annotated[int, typer.Option("--scale", min=1, max=32, help="Enlarge each image by this factor (whole pixels).")] = 4,
    step: StepOption = None,
    best: BestOption = False,
    no_ema: NoEmaOption = False,
    device: DeviceOption = DEFAULT_DEVICE,
    threads: ThreadsOption = None,
) -> None:
    """Walk through the latent codes of some seeds and back (spherical interpolation), as an animation."""
    plugin_warnings()
    use_threads(threads)
    seed_list = integers(seeds, "--seeds")
    if len(seed_list) < 2:
        raise GancoreError("--seeds: give at least two seeds to walk between")
    classes = integers(labels, "--labels") if labels is not None else None
    if classes is not None and label is not None:
        raise GancoreError("give --label (one class for every frame) or --labels (one per seed), not both")
    if classes is not None and len(classes) != len(seed_list):
        raise GancoreError(f"--labels: {len(classes)} classes for {len(seed_list)} seeds; give one per seed")
    out = run_dir / "interpolation.gif" if out is None else output_file(out, "interpolation.gif", (".gif", ".mp4"))
    run = trained_run(run_dir, device=device, step=step, best=best)
    conditional = bool(getattr(run.scheme, "num_classes", None))
    if conditional and label is None and classes is None:
        raise GancoreError("this model is class-conditional: give --label K, or --labels with a class per seed")
    dim = latent_size(run.scheme)
    path = loop_path(torch.cat([seed_code(s, dim) for s in seed_list]), frames)
    per_frame: torch.Tensor | int | None = label
    if classes is not None:
        # the nearer seed's class: frame i lies at i * K / frames arcs along the loop
        nearest = (torch.arange(frames, dtype=torch.float64) * len(seed_list) / frames).round().long() % len(seed_list)
        per_frame = torch.tensor(classes)[nearest]
    images = []
    for start in range(0, frames, CHUNK):
        n = min(CHUNK, frames - start)
        chunk_labels = per_frame[start : start + n] if isinstance(per_frame, torch.Tensor) else per_frame
        images.append(run.sample(n, labels=chunk_labels, latents=path[start : start + n], ema=not no_ema).cpu())
    write_animation(frames_of(torch.cat(images), scale), out, fps)
    console.print(f"wrote {frames} frames through seeds {','.join(map(str, seed_list))} from step {run.step} to {out}")
