"""Frames (generated images) written as an animation: a GIF with Pillow, always; an MP4
with the ``video`` extra (imageio-ffmpeg, which brings its own ffmpeg)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor

from ._artifacts import to_uint8_images
from ._errors import GancoreError

VIDEO_EXTRA = "pip install 'gancore[video]'"


def frames_of(images: Tensor, scale: int) -> np.ndarray:
    """N x C x H x W images in [-1, 1] -> N x (scale H) x (scale W) x 3 uint8 (grey images
    repeated over three channels), enlarged with whole pixels so small images stay sharp."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise GancoreError(f"an animation needs grey or colour images; these samples are {tuple(images.shape[1:])}")
    frames = to_uint8_images(images)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return np.ascontiguousarray(frames.repeat(scale, axis=1).repeat(scale, axis=2))


def write_animation(frames: np.ndarray, path: Path, fps: float) -> None:
    """``frames`` (N x H x W x 3 uint8) to ``path``, a .gif or .mp4 (atomically: a temporary
    file beside it, then renamed). A GIF shows consecutive identical frames as one frame
    held for their time together (Pillow merges them); every other frame is its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        if path.suffix.lower() == ".mp4":
            _write_mp4(frames, tmp, fps)
        else:
            images = [Image.fromarray(f, mode="RGB") for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=max(1, round(1000 / fps)), loop=0)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    try:
        ffmpeg: Any = importlib.import_module("imageio_ffmpeg")
    except ImportError:
        raise GancoreError(f"writing .mp4 needs the video extra: {VIDEO_EXTRA} (or write a .gif)") from None
    height, width = frames.shape[1:3]
    # H.264 in yuv420p wants even sides; blocks of 2 make ffmpeg pad by at most a pixel.
    writer = ffmpeg.write_frames(str(path), (width, height), fps=fps, macro_block_size=2, quality=8,
                                 output_params=["-f", "mp4"])
    writer.send(None)
    for frame in frames:
        writer.send(frame.tobytes())
    writer.close()
