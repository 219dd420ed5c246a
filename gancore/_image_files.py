"""Image files (PNG, JPEG, ... anything Pillow reads) as a run's samples: its channels and
size, values in [-1, 1] as the networks see the data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ._errors import GancoreError

MODES = {1: "L", 3: "RGB"}  # the Pillow mode of each channel count a file can give
ASPECT_TOLERANCE = 0.02  # a resize may stretch this much: a rounding of the sides, not a distortion


def read_image(path: Path, shape: Sequence[int]) -> Tensor:
    """The image at ``path`` as a ``shape`` (C x H x W) float tensor in [-1, 1]: converted to
    grey or colour as C says, and resized (Lanczos) when its sides differ from H x W but
    keep their proportion. An image of other proportions is refused: stretching or cropping
    it is the user's choice to make, not ours."""
    if len(shape) != 3 or shape[0] not in MODES:
        raise GancoreError(f"this run's samples are {tuple(shape)}, not grey or colour images: there is no image file to "
                           "read for them")
    channels, height, width = shape
    try:
        with Image.open(path) as opened:
            image = opened.convert(MODES[channels])
    except FileNotFoundError:
        raise GancoreError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise GancoreError(f"{path}: not an image Pillow can read ({exc})") from None
    if image.size != (width, height):
        ratio = (image.width / image.height) / (width / height)
        if abs(ratio - 1) > ASPECT_TOLERANCE:
            raise GancoreError(f"{path}: the image is {image.width}x{image.height}, the run's images are {width}x{height}; "
                               "crop it to the same proportions first")
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    # As gancore.as_float reads uint8 data: the same values the networks trained on.
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
