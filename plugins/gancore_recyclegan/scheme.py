"""Recycle-GAN (Bansal et al. 2018): unpaired video retargeting with space-time constraints.

Two domains of sequences, X (the data's field ``a``) and Y (``b``). In the paper's
notation G_Y maps X to Y and G_X maps Y to X; critics D_X and D_Y judge single frames;
temporal predictors P_X and P_Y predict frame t+1 from the frames before it. Next to the
adversarial terms, two space-time terms replace CycleGAN's purely spatial cycle:

- recurrent: ``||x_{t+1} - P_X(x_{1:t})||`` trains each predictor on real sequences;
- recycle: ``||x_{t+1} - G_X(P_Y(G_Y(x_{1:t})))||`` translates the history, predicts the
  next frame in the other domain and translates it back, so the translators must keep
  what the motion depends on (and the same from Y).

Generators and predictors are updated together on the sum of all generator-side terms
(as the paper does), then the critics on real and translated frames.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

import gancore

from .sequences import frames_of, next_frame_pairs, sequences_of

Weight = Annotated[float, Field(ge=0.0)]


class RecycleGAN(gancore.Scheme):
    """Recycle-GAN: unpaired translation of sequences a (X) <-> b (Y) with recurrent and recycle losses.

    Sample grids show one sequence per row: the original, its translation, then the
    frames the recycle path predicts (blank where there is not yet enough history).
    Rows from X come first, then rows from Y.

    Args:
        recurrent_weight: weight of the recurrent (next-frame prediction) terms (Recycle-GAN: 10)
        recycle_weight: weight of the recycle terms (Recycle-GAN: 10)
        adversarial_weight: weight of the adversarial terms
    """

    slots = {
        "generator_y": gancore.Slot("generator", default="per-frame", help="G_Y: translates X frames to Y"),
        "generator_x": gancore.Slot("generator", default="per-frame", help="G_X: translates Y frames to X"),
        "critic_x": gancore.Slot("critic", default="per-frame", help="D_X: scores X frames"),
        "critic_y": gancore.Slot("critic", default="per-frame", help="D_Y: scores Y frames"),
        "predictor_x": gancore.Slot("predictor", default="frame-predictor", help="P_X: next X frame from the past ones"),
        "predictor_y": gancore.Slot("predictor", default="frame-predictor", help="P_Y: next Y frame from the past ones"),
        "loss": gancore.Slot("loss", default="least-squares", help="adversarial objectives"),
        "recurrent": gancore.Slot("image-loss", default="l1", help="distance of a prediction to the true next frame"),
        "recycle": gancore.Slot("image-loss", default="cycle", help="distance of a recycled prediction to the true next frame"),
    }
    networks = {
        "generator": ("generator_y", "generator_x"),
        "predictor": ("predictor_x", "predictor_y"),
        "critic": ("critic_x", "critic_y"),
    }
    needs_data_to_sample = True

    def __init__(
        self,
        *,
        generator_y: nn.Module,
        generator_x: nn.Module,
        critic_x: nn.Module,
        critic_y: nn.Module,
        predictor_x: nn.Module,
        predictor_y: nn.Module,
        loss: gancore.AdversarialLoss,
        recurrent: gancore.ImageLoss,
        recycle: gancore.ImageLoss,
        spec: gancore.DataSpec,
        recurrent_weight: Weight = 10.0,
        recycle_weight: Weight = 10.0,
        adversarial_weight: Weight = 1.0,
    ) -> None:
        super().__init__()
        shapes = {k: tuple(spec.fields.get(k, ())) for k in ("a", "b")}
        if any(len(s) != 4 for s in shapes.values()):
            raise ValueError(
                "recycle-gan needs unpaired sequence data: fields 'a' and 'b' of N x T x C x H x W "
                f"(got {', '.join(f'{k}: {s or None}' for k, s in shapes.items())})"
            )
        self.context = {"x": _context(predictor_x, "predictor_x"), "y": _context(predictor_y, "predictor_y")}
        shortest = min(shapes["a"][0], shapes["b"][0])
        if shortest <= max(self.context.values()):
            raise ValueError(
                f"sequences of {shortest} frames leave nothing to predict with a context of "
                f"{max(self.context.values())} frames; use longer sequences or a shorter context"
            )
        self.generator_y, self.generator_x = generator_y, generator_x
        self.critic_x, self.critic_y = critic_x, critic_y
        self.predictor_x, self.predictor_y = predictor_x, predictor_y
        self.loss, self.recurrent, self.recycle = loss, recurrent, recycle
        self.recurrent_weight, self.recycle_weight = recurrent_weight, recycle_weight
        self.adversarial_weight = adversarial_weight
        self.num_classes = None  # nothing here is class-conditional

    # -- the paths, on whole sequences -------------------------------------------------

    @staticmethod
    def translate(generator: nn.Module, sequences: Tensor) -> Tensor:
        """Every frame through an image translator; time folded into the batch."""
        return sequences_of(generator(frames_of(sequences)), sequences.shape[1])

    # -- training ----------------------------------------------------------------------

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        batch = step.batch()
        x, y = batch["a"], batch["b"]
        real_x, real_y = frames_of(x), frames_of(y)

        # Generators and predictors first.
        fake_y = self.translate(self.generator_y, x)  # G_Y(x_t) for every t
        fake_x = self.translate(self.generator_x, y)  # G_X(y_t)
        adversarial = step.generator_loss(self.loss, self.critic_y, frames_of(fake_y), real_y) + step.generator_loss(
            self.loss, self.critic_x, frames_of(fake_x), real_x
        )

        history_x, next_x = next_frame_pairs(x, self.context["x"])
        history_y, next_y = next_frame_pairs(y, self.context["y"])
        recurrent = self.recurrent(self.predictor_x(history_x), next_x) + self.recurrent(self.predictor_y(history_y), next_y)

        # x_{t+1} against G_X(P_Y(G_Y(x_{1:t}))), and y_{t+1} against G_Y(P_X(G_X(y_{1:t}))).
        translated_history_x, _ = next_frame_pairs(fake_y, self.context["y"])
        translated_history_y, _ = next_frame_pairs(fake_x, self.context["x"])
        recycled_x = self.generator_x(self.predictor_y(translated_history_x))
        recycled_y = self.generator_y(self.predictor_x(translated_history_y))
        recycle = self.recycle(recycled_x, _last_targets(x, self.context["y"])) + self.recycle(
            recycled_y, _last_targets(y, self.context["x"])
        )
        # One backward pass feeds both groups: the predictors also learn from the recycle terms.
        step.update(
            ("generator", "predictor"),
            self.adversarial_weight * adversarial + self.recurrent_weight * recurrent + self.recycle_weight * recycle,
        )

        # Critics, on single frames: real against translated.
        logs = step.critic_update(
            self.loss, (self.critic_x, real_x, frames_of(fake_x)), (self.critic_y, real_y, frames_of(fake_y))
        )
        return logs | {
            "loss_generator": adversarial.detach(),
            "loss_recurrent": recurrent.detach(),
            "loss_recycle": recycle.detach(),
        }

    # -- using the trained networks ------------------------------------------------------

    @torch.no_grad()
    def predict(self, domain: str, sequences: Tensor) -> Tensor:
        """P's next-frame predictions for every full history of real sequences of ``domain``
        ("x" or "y"): (N, T - context, C, H, W), frame ``context + t`` at position t."""
        history, _ = next_frame_pairs(sequences, self.context[domain])
        predictor = getattr(self, f"predictor_{domain}")
        return sequences_of(predictor(history), sequences.shape[1] - self.context[domain])

    @torch.no_grad()
    def recycle_predict(self, domain: str, sequences: Tensor) -> Tensor:
        """The recycle path's next-frame predictions for sequences of ``domain``: for X,
        G_X(P_Y(G_Y(x_{1:t}))); (N, T - context, C, H, W) as in ``predict``."""
        other = "y" if domain == "x" else "x"
        there = getattr(self, f"generator_{other}")  # G_Y for X: into the other domain
        back = getattr(self, f"generator_{domain}")  # G_X for X: back home
        translated = self.translate(there, sequences)
        history, _ = next_frame_pairs(translated, self.context[other])
        predicted = getattr(self, f"predictor_{other}")(history)
        return sequences_of(back(predicted), sequences.shape[1] - self.context[other])

    def sample(self, request: gancore.SampleRequest) -> Tensor:
        """``n`` rows (N, 3T, C, H, W): original | translation | recycle predictions."""
        sequences = dict(zip("ab", request.source("a", "b")))
        rows = []
        for domain, field, count in (("x", "a", (request.n + 1) // 2), ("y", "b", request.n // 2)):
            if count == 0:
                continue
            seq = sequences[field][:count]
            into = self.generator_y if domain == "x" else self.generator_x
            predicted = self.recycle_predict(domain, seq)
            blank = torch.full_like(seq[:, : seq.shape[1] - predicted.shape[1]], -1.0)
            rows.append(torch.cat([seq, self.translate(into, seq), blank, predicted], dim=1))
        return torch.cat(rows)


def _context(predictor: nn.Module, slot: str) -> int:
    context = getattr(predictor, "context", None)
    if not isinstance(context, int) or context < 1:
        raise ValueError(f"{slot} needs an integer context attribute (how many past frames it reads)")
    return context


def _last_targets(sequences: Tensor, context: int) -> Tensor:
    """The frames a ``context``-frame history predicts: frames context..T-1, flattened."""
    return frames_of(sequences[:, context:])
