"""Latent codes outside training: truncated draws (the truncation trick), codes read from
a file, and spherical interpolation between codes.

A generator with a mapping network truncates in its own space (StyleGAN pulls ``w``
towards its average); it says so by offering ``truncated(z, psi, labels)``, which
``SampleRequest.generate`` calls instead of truncating ``z``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._errors import GancoreError

TRUNCATION_METHOD = "truncated"
"""The method a generator defines to truncate in its own space: ``truncated(z, psi, labels)``."""

LATENTS_KEY, LABELS_KEY = "z", "labels"
"""The arrays of a latents file (``.npz``): codes N x latent_dim, and the classes (N,) of a
conditional model's."""


def check_truncation(psi: float | None) -> float | None:
    """``psi`` as given, refused unless a positive finite number: at 0 every code is the
    same point, and below it the bound means nothing."""
    if psi is not None and not (math.isfinite(psi) and psi > 0):
        raise GancoreError(f"truncation must be a positive number (got {psi}): smaller values give less varied samples")
    return psi


def truncate(z: Tensor, psi: float, generator: torch.Generator | None = None) -> Tensor:
    """``z`` (standard normal codes) with every element outside ``[-psi, psi]`` drawn again
    from the standard normal restricted to that interval (BigGAN's truncation trick, per
    element). Elements already inside are kept, so codes drawn with the same seed stay
    the same codes as far as the bound allows, and a large ``psi`` changes nothing.

    The redraw inverts the normal CDF on a uniform draw over the interval's CDF range
    rather than rejecting and retrying: the same distribution, at a fixed cost however
    small ``psi`` is."""
    outside = z.abs() > psi
    count = int(outside.sum())
    if not count:
        return z
    lo = 0.5 * (1 + math.erf(-psi / math.sqrt(2)))
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    redrawn = torch.special.ndtri(lo + u * (1 - 2 * lo)).clamp_(-psi, psi)  # clamp: rounding at the ends
    out = z.clone()
    out[outside] = redrawn.to(z.dtype).to(z.device)
    return out


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation from codes ``a`` to ``b`` (each ``D``) at fractions ``t``
    (``T``): ``T x D`` codes along the great circle between them, their norms interpolated
    linearly. Gaussian codes in many dimensions lie near a sphere; a straight line between
    two of them passes through codes of unusually small norm, which the generator rarely
    saw in training, the arc does not."""
    t = t.to(a.dtype).unsqueeze(1)
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if float(omega) < 1e-6:  # the same direction: the arc is the line
        direction = ua.expand(t.shape[0], -1)
    else:
        direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    path: Tensor = direction * ((1 - t) * na + t * nb)
    return path


def loop_path(codes: Tensor, frames: int) -> Tensor:
    """``frames`` codes (``frames x D``) of a closed walk through ``codes`` (K x D, K >= 2)
    and back to the first: evenly spaced over the K arcs (each code to the next, the last
    to the first), starting on the first code and ending just before it, so the loop
    repeats without a doubled frame. With ``frames`` a multiple of K every code is a frame."""
    k = len(codes)
    position = torch.arange(frames, dtype=torch.float64) * k / frames  # in arcs travelled
    arc = position.floor().long().clamp_(max=k - 1)
    out = torch.empty(frames, codes.shape[1], dtype=torch.float64)
    for i in range(k):
        on = arc == i
        if on.any():
            out[on] = slerp(codes[i].double(), codes[(i + 1) % k].double(), position[on] - i)
    return out.to(codes.dtype)


def seed_code(seed: int, dim: int) -> Tensor:
    """The code of a seed: the one ``gancore sample --num 1 --seed SEED`` draws (1 x dim)."""
    return torch.randn(1, dim, generator=torch.Generator().manual_seed(seed))


def latent_size(scheme: object) -> int:
    """The size of the codes a scheme's generator takes (its ``generator.latent_dim``)."""
    size = getattr(getattr(scheme, "generator", None), "latent_dim", None)
    if not isinstance(size, int):
        raise GancoreError("this run's scheme has no generator of latent codes (a `generator` with an integer "
                           "latent_dim): it maps data, not codes")
    return size


def read_latents(path: Path) -> tuple[Tensor, Tensor | None]:
    """The codes (and classes, if the file has them) of a latents file, as written by
    ``gancore project`` or by hand: ``np.savez(path, z=codes, labels=classes)``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if LATENTS_KEY not in data.files:
                raise GancoreError(f"{path}: no {LATENTS_KEY!r} array (the codes, N x latent_dim); it has "
                                   f"{', '.join(data.files) or 'none'}")
            z = np.asarray(data[LATENTS_KEY])
            labels = np.asarray(data[LABELS_KEY]) if LABELS_KEY in data.files else None
    except (OSError, ValueError) as exc:
        raise GancoreError(f"{path}: not a readable .npz file ({exc})") from None
    if z.ndim != 2 or z.shape[0] == 0 or not np.issubdtype(z.dtype, np.floating):
        raise GancoreError(f"{path}: {LATENTS_KEY!r} must be N x latent_dim floating-point codes, got {z.dtype} {z.shape}")
    if not np.isfinite(z).all():
        raise GancoreError(f"{path}: the codes are not all finite")
    classes = None
    if labels is not None:
        if labels.shape != (z.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise GancoreError(f"{path}: {LABELS_KEY!r} must be {z.shape[0]} integer classes, got {labels.dtype} {labels.shape}")
        classes = torch.from_numpy(labels.astype(np.int64))
    return torch.from_numpy(z.astype(np.float32)), classes


def write_latents(path: Path, z: Tensor, labels: Tensor | None = None) -> None:
    """A latents file, written atomically (a reader never sees half of it)."""
    arrays = {LATENTS_KEY: z.detach().float().cpu().numpy()}
    if labels is not None:
        arrays[LABELS_KEY] = labels.cpu().numpy().astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub: **arrays could fill its bool allow_pickle
    tmp.replace(path)

