"""Differentiable image transforms, each applied per sample with its own random draw
(drawn from the run's ``gancore.Random``, so runs repeat and resume exactly), and only where a
per-sample ``apply`` mask says (ADA's probability p; all-true for DiffAugment).

Images are ``(N, C, H, W)`` in [-1, 1]; regions a transform uncovers are filled with 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import gancore


def _per_sample(x: Tensor) -> tuple[int, ...]:
    return (x.shape[0],) + (1,) * (x.dim() - 1)


def _where(apply: Tensor | None, changed: Tensor, x: Tensor) -> Tensor:
    return changed if apply is None else torch.where(apply.view(_per_sample(x)), changed, x)


def brightness(x: Tensor, random: gancore.Random, apply: Tensor | None = None) -> Tensor:
    """Adds one offset in [-0.5, 0.5) per sample."""
    shift = random.rand(x.shape[0], *_per_sample(x)[1:], device=x.device, dtype=x.dtype) - 0.5
    return _where(apply, x + shift, x)


def saturation(x: Tensor, random: gancore.Random, apply: Tensor | None = None) -> Tensor:
    """Scales each pixel's distance to its channel mean by a factor in [0, 2) (no change
    on one channel)."""
    factor = random.rand(x.shape[0], *_per_sample(x)[1:], device=x.device, dtype=x.dtype) * 2
    mean = x.mean(dim=1, keepdim=True)
    return _where(apply, (x - mean) * factor + mean, x)


def contrast(x: Tensor, random: gancore.Random, apply: Tensor | None = None) -> Tensor:
    """Scales each sample's distance to its own mean by a factor in [0.5, 1.5)."""
    factor = random.rand(x.shape[0], *_per_sample(x)[1:], device=x.device, dtype=x.dtype) + 0.5
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return _where(apply, (x - mean) * factor + mean, x)


def color(x: Tensor, random: gancore.Random, apply: Tensor | None = None) -> Tensor:
    return contrast(saturation(brightness(x, random, apply), random, apply), random, apply)


def translation(x: Tensor, random: gancore.Random, apply: Tensor | None = None, ratio: float = 0.125) -> Tensor:
    """Shifts each sample by whole pixels, up to ``ratio`` of the side in each direction."""
    n, _, h, w = x.shape
    pad_h, pad_w = max(1, round(h * ratio)), max(1, round(w * ratio))
    dy = random.randint(2 * pad_h + 1, n, device=x.device) - pad_h
    dx = random.randint(2 * pad_w + 1, n, device=x.device) - pad_w
    if apply is not None:
        dy, dx = dy * apply, dx * apply  # a sample left alone shifts by 0
    padded = F.pad(x, [pad_w, pad_w, pad_h, pad_h])
    rows = (torch.arange(h, device=x.device)[None, :] + pad_h - dy[:, None])  # (N, H)
    cols = (torch.arange(w, device=x.device)[None, :] + pad_w - dx[:, None])  # (N, W)
    picked = padded[torch.arange(n, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2)  # indexing put the channels last


def cutout(x: Tensor, random: gancore.Random, apply: Tensor | None = None, ratio: float = 0.5) -> Tensor:
    """Blanks one square of ``ratio`` of the side per sample, at a random centre."""
    n, _, h, w = x.shape
    size_h, size_w = max(1, round(h * ratio)), max(1, round(w * ratio))
    cy = random.randint(h + (1 - size_h % 2), n, device=x.device)
    cx = random.randint(w + (1 - size_w % 2), n, device=x.device)
    ys = torch.arange(h, device=x.device)[None, :] - cy[:, None] + size_h // 2  # (N, H): inside when in [0, size)
    xs = torch.arange(w, device=x.device)[None, :] - cx[:, None] + size_w // 2
    inside = ((ys >= 0) & (ys < size_h))[:, :, None] & ((xs >= 0) & (xs < size_w))[:, None, :]
    if apply is not None:
        inside = inside & apply.view(n, 1, 1)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def flip(x: Tensor, random: gancore.Random, apply: Tensor | None = None) -> Tensor:
    """Mirrors each sample left to right with probability one half."""
    coin = random.rand(x.shape[0], device=x.device) < 0.5
    return torch.where((coin if apply is None else coin & apply).view(_per_sample(x)), x.flip(3), x)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout, "flip": flip}
"""The transforms by name, in the order a policy applies them."""
