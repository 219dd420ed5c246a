"""Sample tiles for translation schemes: several images of one item placed side by side."""

from __future__ import annotations

import torch
from torch import Tensor


def side_by_side(*images: Tensor) -> Tensor:
    """N x C x H x W images -> N x C x H x (k W): one tile per item, so a sample grid keeps
    each source next to its translation. Single-channel images are repeated to match
    colour ones; otherwise the channel counts must agree."""
    channels = max(x.shape[1] for x in images)
    matched = []
    for x in images:
        if x.shape[1] != channels:
            if x.shape[1] != 1:
                raise ValueError(f"cannot place {x.shape[1]}-channel images next to {channels}-channel ones")
            x = x.expand(-1, channels, -1, -1)
        matched.append(x.float())
    return torch.cat(matched, dim=-1)
