"""Activation normalizations: a module placed after each linear/conv layer.

Each class is its own factory (no recipe parameters); ``layer`` picks the module by
whether the features are spatial (N x C x H x W) or flat (N x C).
"""

from __future__ import annotations

from torch import nn

import gancore


class ActivationNormalization(gancore.Normalization):
    """Shared shape of the activation norms: one module for flat, one for spatial features.

    ``wrap`` is inherited unchanged (the layer itself is not reparametrised). New
    activation norms (a per-domain batch norm, say) subclass this and fill in the two
    builders.
    """

    def layer(self, num_features: int, *, spatial: bool) -> nn.Module:
        return self.spatial(num_features) if spatial else self.flat(num_features)

    def flat(self, num_features: int) -> nn.Module:
        raise NotImplementedError

    def spatial(self, num_features: int) -> nn.Module:
        raise NotImplementedError


class BatchNormalization(ActivationNormalization):
    """Batch normalization (Ioffe & Szegedy 2015): BatchNorm1d, or BatchNorm2d for images."""

    def flat(self, num_features: int) -> nn.Module:
        return nn.BatchNorm1d(num_features)

    def spatial(self, num_features: int) -> nn.Module:
        return nn.BatchNorm2d(num_features)


class InstanceNormalization(ActivationNormalization):
    """Instance normalization (Ulyanov et al. 2016), affine; per-sample LayerNorm on flat features.

    A flat feature vector has no spatial extent to take an instance's statistics over, so
    the closest match (each sample normalised by its own statistics, with a learned scale
    and shift per feature) is LayerNorm over the features. This keeps MLPs usable with
    ``norm = "instance"`` instead of failing on a shape error.
    """

    def flat(self, num_features: int) -> nn.Module:
        return nn.LayerNorm(num_features)

    def spatial(self, num_features: int) -> nn.Module:
        return nn.InstanceNorm2d(num_features, affine=True)


class LayerNormalization(ActivationNormalization):
    """Layer normalization (Ba et al. 2016): LayerNorm, or GroupNorm(1, C) for images.

    GroupNorm with one group normalises each sample over C, H and W together, like
    LayerNorm, but keeps one scale and shift per channel so it works at any image size.
    """

    def flat(self, num_features: int) -> nn.Module:
        return nn.LayerNorm(num_features)

    def spatial(self, num_features: int) -> nn.Module:
        return nn.GroupNorm(1, num_features)


class NoNormalization(gancore.Normalization):
    """No normalization: layers are left as they are."""
