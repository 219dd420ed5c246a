"""PacGAN (Lin et al. 2018): the critic scores packs of m samples instead of single samples.

Consecutive samples form a pack: samples ``[j*m, (j+1)*m)`` are pack ``j``. They are laid
side by side along the feature/channel dimension, so an MLP critic sees one long vector
and a convolutional critic an image with ``m * C`` channels.
"""

from __future__ import annotations

from torch import Tensor


def check_packable(batch: int, pack: int) -> None:
    if batch % pack:
        raise ValueError(f"a critic with pack={pack} needs a batch size divisible by {pack}, got {batch}")


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """(N, C, ...) -> (N // pack, pack * C, ...), the pack's samples in order along dim 1."""
    if pack == 1:
        return x
    check_packable(x.shape[0], pack)
    # Row-major layout: reshaping the leading dims puts sample j*m+i at channels [i*C, (i+1)*C).
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


def sum_over_pack(values: Tensor, pack: int) -> Tensor:
    """(N, D) -> (N // pack, D): per-sample values summed within each pack."""
    if pack == 1:
        return values
    check_packable(values.shape[0], pack)
    return values.reshape(values.shape[0] // pack, pack, *values.shape[1:]).sum(1)
