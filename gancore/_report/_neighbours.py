"""The nearest-neighbour sheet: a few samples of the trained generator, each beside the
training images nearest to it, to see whether the generator makes new images or repeats
the ones it was shown.

Distances are taken in the run's metric feature space, the one its FID and precision /
recall embed the same data in, found through the registry as an evaluation finds it
(``Metric.feature_space_for``); data no metric embeds is compared pixel by pixel, and the
sheet says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._errors import GancoreError
from .._evaluate import Features, metric_specs
from .._parts import as_float
from .._run import Run

SAMPLES = 8  # rows of the sheet
NEIGHBOURS = 4  # training images beside each sample
POOL = 10_000  # training images searched at most: a fixed subset of a larger set
CHUNK = 1_000  # images embedded at once: bounds memory
PIXELS = "pixel space"


class _Embed:
    """Features of a batch in a feature space, or its flattened pixels (``space`` None)."""

    def __init__(self, space: Features | None) -> None:
        self.space = space

    def __call__(self, x: Tensor) -> Tensor:
        if self.space is None:
            return x.flatten(1)
        return self.space.features(x)


@dataclass
class Sheet:
    """The sheet's pictures (images in [-1, 1]) and what they were compared in; or, when
    there is no sheet, ``missing`` says why."""

    samples: Tensor | None = None  # N x C x H x W
    neighbours: Tensor | None = None  # N x K x C x H x W, nearest first
    distances: Tensor | None = None  # N x K
    space: str = ""
    searched: int = 0
    notes: list[str] = field(default_factory=list)
    missing: str = ""


def neighbour_sheet(run: Run, seed: int | None = None) -> Sheet:
    if run.step == 0:
        return Sheet(missing="the run has no checkpoint yet: nothing to sample")
    if not run.finite:
        return Sheet(missing=f"the weights at step {run.step} are not finite (the run diverged)")
    if tuple(run.spec.shape) == (2,):
        return Sheet(missing="the data are 2-D points (see the scatter plots over time)")
    if not run.spec.is_image:
        return Sheet(missing=f"the data are not single images (each is {tuple(run.spec.shape)})")
    samples = run.sample(SAMPLES, seed=run.recipe.train.seed if seed is None else seed).float().cpu()
    data = run.dataset.tensors["x"]
    if samples.dim() != 4 or tuple(samples.shape[1:]) != tuple(data.shape[1:]):
        return Sheet(missing=f"the samples ({tuple(samples.shape[1:])}) are not of the training images' shape "
                             f"({tuple(data.shape[1:])}), as a translation's side-by-side pictures are not")
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(run.recipe.train.seed))[:POOL]
    pick = pick.sort().values  # reading in order keeps a memory-mapped set's pages in order
    pool = torch.cat([as_float(data[chunk]) for chunk in pick.split(CHUNK)])
    sheet = Sheet(samples=samples, searched=len(pool))
    name, embed = _feature_space(run, samples, sheet.notes)
    try:
        f_pool, f_samples = _embedded(embed, pool, samples, run.device)
    except (GancoreError, ValueError, OSError) as exc:  # the space refuses these images: compare pixels
        sheet.notes.append(f"{name} could not embed these images: {exc}")
        name, embed = PIXELS, _Embed(None)
        f_pool, f_samples = _embedded(embed, pool, samples, run.device)
    sheet.space = name
    k = min(NEIGHBOURS, len(pool))
    distances, index = torch.cdist(f_samples.double(), f_pool.double()).topk(k, largest=False)
    sheet.neighbours, sheet.distances = pool[index], distances.float()
    return sheet


@torch.no_grad()
def _embedded(embed: _Embed, pool: Tensor, samples: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    f_pool = torch.cat([embed(chunk.to(device)).float().cpu() for chunk in pool.split(CHUNK)])
    return f_pool, embed(samples.to(device)).float().cpu()


def _feature_space(run: Run, x: Tensor, notes: list[str]) -> tuple[str, _Embed]:
    """The feature space of the run's first metric (FID when it has it) that embeds images
    like ``x`` (the recipe's ``eval.features`` applies, as in an evaluation), else the pixels."""
    specs = metric_specs(run.registry, run.eval_metrics(), run.recipe.eval.features)
    specs.sort(key=lambda spec: spec[0] != "fid")  # FID's space first: the one a run is most often judged in
    try:
        for name, params in specs:
            metric = run.registry.build("metric", name, params, spec=run.spec)
            found = metric.feature_space_for(x)
            if found is not None:
                space_name, space = found
                return f"the {space_name} feature space (metric {name}'s)", _Embed(space)
    except (GancoreError, OSError) as exc:  # a feature space that cannot be had here (weights absent offline)
        notes.append(f"the metric feature space is not available: {exc}")
        return PIXELS, _Embed(None)
    notes.append("no metric of this run embeds these images in a feature space")
    return PIXELS, _Embed(None)
