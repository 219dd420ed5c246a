"""Learning-rate schedules over a run's ``train.steps``.

The rate is a pure function of the step, not a scheduler object with its own state, so a
resumed run sets exactly the rate the uninterrupted run would have had.
"""

from __future__ import annotations

import math


def lr_factor(schedule: str, step: int, total: int, final: float) -> float:
    """The fraction of the base learning rate to use for generator step ``step`` (0-based)
    of ``total``: 1 throughout for ``constant``; from 1 down to ``final`` at ``total``,
    in a straight line for ``linear`` or half a cosine for ``cosine``."""
    if schedule == "constant":
        return 1.0
    progress = min(step / max(total, 1), 1.0)
    if schedule == "linear":
        return 1.0 - (1.0 - final) * progress
    if schedule == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")
