"""Does a translation keep its digit? The measure behind the Twin-GAN benchmark.

Every image of domain A (and of B) is translated to the other domain and read by a
classifier trained on plain MNIST digits; a translation counts as kept when the
classifier's digit is the source image's label. The classifier only knows plain
white-on-black digits, so images of domain B are first mapped back to that look
(``unstyle_b``: negation for inverted digits; nothing for thickened ones, which it
reads well). The classifier's accuracy on the real images of each domain, unstyled the
same way, is reported beside it as the ceiling of the measure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

Classify = Callable[[Tensor], Tensor]


def unchanged(x: Tensor) -> Tensor:
    return x


UNSTYLE_B: dict[str, Callable[[Tensor], Tensor]] = {"thick": unchanged, "inverted": torch.neg}
"""How to show the classifier a domain-B image, per ``mnist-unpaired`` domain_b."""


class Translating(Protocol):
    """What ``class_kept`` needs of a scheme: a module that translates both ways."""

    def translate_ab(self, a: Tensor) -> Tensor: ...

    def translate_ba(self, b: Tensor) -> Tensor: ...

    def modules(self) -> Iterator[nn.Module]: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def eval(self) -> object: ...


@dataclass(frozen=True)
class ClassKept:
    """Shares of translations whose digit is the source's, with the classifier's ceilings."""

    a_to_b: float
    b_to_a: float
    real_a: float
    real_b: float
    count_a: int
    count_b: int

    @property
    def both(self) -> float:
        """Kept share over all translations of both directions."""
        return (self.a_to_b * self.count_a + self.b_to_a * self.count_b) / (self.count_a + self.count_b)


def _accuracy(classify: Classify, images: Tensor, labels: Tensor, batch_size: int) -> float:
    predicted = torch.cat([classify(x).argmax(1) for x in images.split(batch_size)])
    return (predicted == labels.to(predicted.device)).float().mean().item()


@torch.no_grad()
def class_kept(
    scheme: Translating,
    data: Mapping[str, Tensor],
    classify: Classify,
    *,
    unstyle_b: Callable[[Tensor], Tensor] = unchanged,
    batch_size: int = 500,
) -> ClassKept:
    """Translate ``data["a"]`` to B and ``data["b"]`` to A with a twin-gan (or cyclegan)
    scheme in eval mode, and score them against ``label_a`` / ``label_b``. For a run's
    EMA weights, call it inside ``with run.averaged() as scheme``."""
    modes = {m: m.training for m in scheme.modules()}
    scheme.eval()
    try:
        device = next(scheme.parameters()).device
        a, b = data["a"].to(device), data["b"].to(device)
        ab = torch.cat([scheme.translate_ab(x) for x in a.split(batch_size)])
        ba = torch.cat([scheme.translate_ba(x) for x in b.split(batch_size)])
        return ClassKept(
            a_to_b=_accuracy(classify, unstyle_b(ab), data["label_a"], batch_size),
            b_to_a=_accuracy(classify, ba, data["label_b"], batch_size),
            real_a=_accuracy(classify, a, data["label_a"], batch_size),
            real_b=_accuracy(classify, unstyle_b(b), data["label_b"], batch_size),
            count_a=len(a),
            count_b=len(b),
        )
    finally:
        for m, was in modes.items():
            m.train(was)
