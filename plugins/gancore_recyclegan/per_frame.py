"""Image networks applied frame by frame: any registered image generator or critic on video.

Networks size themselves from the data spec, and the spec of sequence data describes a
whole sequence (T x C x H x W), which image networks reject. These adapters build the
named network for one frame instead (the spec with the time axis dropped from every
sequence field) and, when called on sequences N x T x C x H x W, fold time into the
batch. Frames (N x C x H x W) pass straight through, so a scheme that already works on
frames pays nothing for the wrapper.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from torch import Tensor, nn

import gancore

from .sequences import frames_of, sequences_of

Params = Annotated[dict[str, Any], Field(description="the wrapped network's own parameters")]


def frames_or_sequences(spec: gancore.DataSpec) -> bool:
    """Images (C x H x W) or image sequences (T x C x H x W)."""
    return len(spec.shape) in (3, 4)


def frame_spec(spec: gancore.DataSpec, what: str) -> gancore.DataSpec:
    """The spec of one frame: sequence fields (T x C x H x W) lose their time axis."""
    if len(spec.shape) == 3:
        return spec
    if len(spec.shape) != 4:
        raise ValueError(f"{what} needs image sequences (T x C x H x W) or images, got samples of shape {spec.shape}")
    fields = {k: tuple(v[1:]) if len(v) == 4 else tuple(v) for k, v in spec.fields.items()}
    return gancore.DataSpec(shape=tuple(spec.shape[1:]), num_classes=spec.num_classes, fields=fields)


def build_inner(
    kind: str, network: str, params: dict[str, Any], spec: gancore.DataSpec, build: gancore.Build
) -> nn.Module:
    """The wrapped network, from the registry building the adapter, for one frame."""
    if network == "per-frame":
        raise ValueError("per-frame cannot wrap itself; name an image network")
    try:
        return build(kind, network, params, spec=frame_spec(spec, f"the per-frame {kind}"))
    except gancore.GancoreError as exc:
        # Say where the bad value sits in the recipe: under this part's params table.
        raise gancore.GancoreError(f"params of the wrapped {kind} {network!r}: {exc}") from exc.__cause__


def fold_time(x: Tensor) -> tuple[Tensor, int | None]:
    """(N*T, C, H, W) and T for sequences; frames as they are and None."""
    if x.dim() == 5:
        return frames_of(x), x.shape[1]
    return x, None


class PerFrameGenerator(nn.Module):
    """Applies an image-to-image generator to every frame of a sequence (N x T x C x H x W), or to frames.

    Args:
        network: the registered image-to-image generator to wrap (unet, resnet, ...)
        params: the wrapped generator's parameters, as its own table would give them
    """

    supports = staticmethod(frames_or_sequences)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        network: Annotated[str, gancore.Ref("generator")] = "unet",
        params: Params = {},
        build: gancore.Build = gancore.build,
    ) -> None:
        super().__init__()
        self.inner = build_inner("generator", network, dict(params), spec, build)
        if getattr(self.inner, "latent_dim", None) is not None:
            raise ValueError(f"generator {network!r} maps a latent code; per-frame needs an image-to-image generator")
        self.num_classes = getattr(self.inner, "num_classes", None)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        frames, steps = fold_time(z)
        out = self.inner(frames) if labels is None else self.inner(frames, labels)
        return out if steps is None else sequences_of(out, steps)


class PerFrameCritic(nn.Module):
    """Applies an image critic to every frame of a sequence: scores (N, T x P), or (N, P) for frames.

    Args:
        network: the registered image critic to wrap (patchgan, dcgan, ...)
        params: the wrapped critic's parameters, as its own table would give them
    """

    supports = staticmethod(frames_or_sequences)

    def __init__(
        self,
        *,
        spec: gancore.DataSpec,
        network: Annotated[str, gancore.Ref("critic")] = "patchgan",
        params: Params = {},
        build: gancore.Build = gancore.build,
    ) -> None:
        super().__init__()
        self.inner = build_inner("critic", network, dict(params), spec, build)
        if getattr(self.inner, "pack", 1) != 1:
            raise ValueError("per-frame scores frames one by one; a packed critic does not apply")
        self.num_classes = getattr(self.inner, "num_classes", None)
        self.paired = bool(getattr(self.inner, "paired", False))
        self.pack = 1

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        frames, steps = fold_time(x)
        if steps is not None and labels is not None:
            labels = labels.repeat_interleave(steps)  # every frame carries its sequence's label
        scores = self.inner(frames) if labels is None else self.inner(frames, labels)
        return scores if steps is None else scores.reshape(x.shape[0], -1)
