"""How well a generator represents data it never saw: the distance from held-out images
to the generator's closest reconstruction of each (Xiang & Li 2017, "On the Effects of
Batch and Weight Normalization in Generative Adversarial Networks").

For every held-out image a latent code is optimised (Adam, from several random starts at
once, batched over images) to minimise the squared distance of ``G(z)`` to the image; the
best start counts (the search is ``gancore.project``, which ``gancore project`` runs on a
user's images too). A generator that covers the data reconstructs unseen images closely;
one that dropped modes or produces only a few prototypes cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

import gancore

DatasetName = Annotated[str, gancore.Ref("dataset"), Field(description="the held-out images to reconstruct")]


class Reconstruction(gancore.Metric):
    """Distance of held-out images to their best reconstruction by the generator (latent codes optimised per image).

    Args:
        dataset: the registered dataset holding the held-out images
        dataset_params: that dataset's parameters (the default, MNIST's embedded test
            split, is held out from a run trained on the train split)
        num_images: how many of its images to reconstruct (a fixed, seeded choice)
        steps: Adam steps on the latent codes
        restarts: random starting codes per image; the closest reconstruction counts
        lr: Adam's learning rate on the codes
        batch_size: images optimised at once (times restarts codes per forward pass)
        seed: of the image choice and the starting codes
    """

    higher_is_better: ClassVar[Mapping[str, bool]] = {"reconstruction_mse": False, "reconstruction_distance": False}
    needs_generator: ClassVar[bool] = True
    #: What the contract kit checks it with: fewer images and steps than a measurement.
    examples: ClassVar[list[dict[str, Any]]] = [{"num_images": 64, "steps": 100}]

    def __init__(
        self,
        *,
        build: gancore.Build = gancore.build,
        dataset: DatasetName = "mnist",
        dataset_params: Annotated[dict[str, Any], Field(description="the dataset's parameters")] = {},  # noqa: B006 - pydantic copies it
        num_images: Annotated[int, Field(ge=1, le=100_000)] = 512,
        steps: Annotated[int, Field(ge=1, le=100_000)] = 300,
        restarts: Annotated[int, Field(ge=1, le=64)] = 4,
        lr: Annotated[float, Field(gt=0, le=10)] = 0.05,
        batch_size: Annotated[int, Field(ge=1)] = 256,
        seed: int = 0,
    ) -> None:
        data = build("dataset", dataset, dict(dataset_params))
        x = data.tensors["x"]
        pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: min(num_images, len(x))]
        self.images = gancore.as_float(x[pick])
        self.steps, self.restarts, self.lr, self.batch_size, self.seed = steps, restarts, lr, batch_size, seed

    def supports(self, spec: gancore.DataSpec) -> bool:
        """Runs whose samples have the held-out images' shape."""
        return tuple(spec.shape) == tuple(self.images.shape[1:])

    def reconstruct(self, generator: gancore.LatentGenerator, images: Tensor, codes: torch.Generator) -> Tensor:
        """The smallest squared distance (summed over pixels) of each image to ``G(z)``."""
        found = gancore.project(generator, images, steps=self.steps, restarts=self.restarts, lr=self.lr, random=codes)
        return found.distances

    def compute(self, real: Mapping[str, Tensor], fake: Mapping[str, Tensor], *,
                generator: gancore.LatentGenerator | None = None) -> dict[str, float]:
        # Optional only as Metric.compute has no generator: needs_generator makes the run pass it.
        if generator is None:
            raise TypeError("the reconstruction metric needs the generator: compute(real, fake, generator=...)")
        if tuple(self.images.shape[1:]) != tuple(real["x"].shape[1:]):
            raise ValueError(f"the held-out images are {tuple(self.images.shape[1:])}, the run's samples "
                             f"{tuple(real['x'].shape[1:])}: name held-out data of the run's shape")
        codes = torch.Generator().manual_seed(self.seed)
        best = torch.cat([self.reconstruct(generator, self.images[i : i + self.batch_size], codes)
                          for i in range(0, len(self.images), self.batch_size)]).double()
        pixels = self.images[0].numel()
        return {"reconstruction_mse": float(best.mean() / pixels), "reconstruction_distance": float(best.mean())}
