"""Image-to-image losses (kind ``image-loss``): distances a scheme weighs next to its GAN loss.

Every loss returns a scalar mean and works on images (N x C x H x W) or sequences
(N x T x C x H x W) alike. ``cycle`` and ``identity`` are the same L1 distance as ``l1``;
they are registered under their own names so a recipe says what each term is for and can
swap one of them alone. ``symmetry`` and ``total-variation`` look at the output only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from torch import Tensor, nn

import gancore


def mean_abs(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().mean()


class L1Loss(gancore.ImageLoss):
    """Mean absolute difference between the output and its target (pix2pix's L1 term)."""

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return mean_abs(output, target)


class CycleLoss(L1Loss):
    """Cycle consistency (CycleGAN): L1 between a reconstruction F(G(x)) and the original x."""


class IdentityLoss(L1Loss):
    """Identity mapping (CycleGAN): L1 between G(y) and y for an image y already in G's target domain."""


class SymmetryLoss(gancore.ImageLoss):
    """L1 between an image and its horizontal mirror (TP-GAN's frontal-face symmetry); uses the output only."""

    def __call__(self, output: Tensor, target: Tensor | None = None) -> Tensor:
        return mean_abs(output, output.flip(-1))


class TotalVariationLoss(gancore.ImageLoss):
    """Mean absolute difference of vertically and of horizontally neighbouring pixels; uses the output only.

    The two means are added, so a one-pixel checkerboard of contrast d scores 2d.
    """

    def __call__(self, output: Tensor, target: Tensor | None = None) -> Tensor:
        vertical = (output[..., 1:, :] - output[..., :-1, :]).abs().mean()
        horizontal = (output[..., :, 1:] - output[..., :, :-1]).abs().mean()
        return vertical + horizontal


FeatureDistance = Literal["l1", "l2"]


class FeatureLoss(gancore.ImageLoss):
    """Distance between the features a fixed, pretrained network sees in the output and in the target.

    The network's weights are frozen and live outside the scheme, so no optimizer ever
    sees them; gradients flow through it to the output only.

    Args:
        features: the registered feature network (kind "features") to compare in
        distance: l1 (mean absolute) or l2 (mean squared) difference of the features
    """

    def __init__(
        self,
        features: Annotated[str, gancore.Ref("features")] = "mnist",
        distance: FeatureDistance = "l2",
        *,
        build: gancore.Build = gancore.build,
    ) -> None:
        self.features_name = features
        self.distance = distance
        # The feature network of the registry building this loss.
        self.extract = differentiable_features(build("features", features), features)

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        # Sequences: every frame is an image to the feature network.
        flat_out = output.reshape(-1, *output.shape[-3:]) if output.dim() > 4 else output
        flat_target = target.reshape(-1, *target.shape[-3:]) if target.dim() > 4 else target
        got = self.extract(flat_out)
        want = self.extract(flat_target.detach())
        diff = got - want
        return diff.abs().mean() if self.distance == "l1" else diff.pow(2).mean()


def differentiable_features(extractor: object, name: str) -> Callable[[Tensor], Tensor]:
    """A function from images to features that lets gradients through to the images: a
    feature object's ``differentiable_features``, or the object itself when it is a module."""
    if isinstance(extractor, nn.Module):
        return extractor
    method = getattr(type(extractor), "differentiable_features", None)
    if callable(method) and method is not gancore.Features.differentiable_features:
        return extractor.differentiable_features  # type: ignore[attr-defined]
    raise ValueError(
        f"features {name!r} gives no differentiable features (it needs to be a torch module "
        "or to offer differentiable_features(x))"
    )
