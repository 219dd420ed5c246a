"""Cutting sequences into (history, next frame) pairs, all at once."""

from __future__ import annotations

from torch import Tensor


def next_frame_pairs(sequences: Tensor, context: int) -> tuple[Tensor, Tensor]:
    """Every full window of ``context`` frames and the frame after it.

    Sequences (N, T, C, H, W) -> histories (N * (T - context), context, C, H, W) and
    targets (N * (T - context), C, H, W), ordered sequence by sequence, so the t-th
    history of sequence n predicts frame ``context + t`` of it.
    """
    n, t = sequences.shape[:2]
    if t <= context:
        raise ValueError(f"sequences of {t} frames leave no frame to predict from {context} frames of context")
    # unfold gives (N, T - context + 1, C, H, W, context); the last window has no successor.
    windows = sequences.unfold(1, context, 1)[:, : t - context]
    histories = windows.permute(0, 1, 5, 2, 3, 4).flatten(0, 1)
    targets = sequences[:, context:].flatten(0, 1)
    return histories, targets


def frames_of(sequences: Tensor) -> Tensor:
    """(N, T, C, H, W) -> (N * T, C, H, W): image networks see every frame as an image."""
    return sequences.flatten(0, 1)


def sequences_of(frames: Tensor, steps: int) -> Tensor:
    """The inverse of ``frames_of``."""
    return frames.unflatten(0, (-1, steps))
