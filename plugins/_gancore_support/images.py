"""What image networks read from the data spec: whether the data are images, their shape,
and the channels a translating network reads and writes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

import gancore

Channels = Annotated[
    Annotated[int, Field(ge=1)] | None, Field(description="channel count overriding what the data spec implies")
]


def images_only(spec: gancore.DataSpec) -> bool:
    """Images (C x H x W) only."""
    return spec.is_image


def image_shape(spec: gancore.DataSpec, what: str) -> tuple[int, int, int]:
    """(C, H, W) of the main field, or a ValueError for data that are not images."""
    if not spec.is_image:
        raise ValueError(f"{what} needs image data (C x H x W), got samples of shape {spec.shape}")
    c, h, w = spec.shape
    return c, h, w


def source_channels(spec: gancore.DataSpec) -> int:
    """Channels of the images a translator reads: the ``source`` field's when the data
    has one (pix2pix pairs), else those of ``x`` (CycleGAN domains share a shape)."""
    source = spec.fields.get("source")
    if source is not None and len(source) == 3:
        return source[0]
    return spec.shape[0]


def generator_channels(
    spec: gancore.DataSpec, what: str, in_channels: int | None = None, out_channels: int | None = None
) -> tuple[int, int, int, int]:
    """(in channels, out channels, H, W) of a translating generator; the channel counts
    follow the data unless given."""
    c, h, w = image_shape(spec, what)
    return (in_channels or source_channels(spec)), (out_channels or c), h, w
