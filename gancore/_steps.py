"""The pieces a GAN training step is made of, shared by every scheme.

A scheme composes these and hands losses to the update handle; none of them steps an
optimizer on its own except ``critic_update``, which does so through the handle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ContextManager

import torch
from torch import Tensor, nn

from ._augment import Augmentation, augmentation_of
from ._errors import GancoreError
from ._parts import AdversarialLoss, Batches, Regularizer
from ._updates import Updates, current_loss_scale


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients for ``modules`` inside the block: a critic during the
    generator's update still passes gradients to its input, but records nothing for its
    own weights (memory and work a hand-written loop usually wastes)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _unwrapped(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


@contextmanager
def _uncompiled(module: nn.Module) -> Iterator[None]:
    """Run a network compiled in place (``train.compile``) eagerly inside the block: a
    gradient penalty differentiates twice, which compiled graphs do not support."""
    module = _unwrapped(module)  # several processes: the compiled network is inside DDP's wrapper
    compiled = getattr(module, "_compiled_call_impl", None)
    if compiled is None:
        yield
        return
    module._compiled_call_impl = None
    try:
        yield
    finally:
        module._compiled_call_impl = compiled


def _judge(critic: nn.Module, labels: Tensor | None) -> Callable[[Tensor], Tensor]:
    """The critic as a function of samples alone, with the labels bound."""
    if labels is None:
        return critic
    return lambda x: critic(x, labels)


def _check_samples(real: Tensor, fake: Tensor) -> None:
    """Generated samples must look like the data: a wrong output size fails here with one
    line, not deep inside the critic."""
    if fake.shape[1:] != real.shape[1:]:
        raise GancoreError(f"the generator's samples have shape {tuple(fake.shape[1:])}, but the data's are "
                           f"{tuple(real.shape[1:])}: the generator must produce samples of the data's shape")


def _check_scores(scores: Tensor, batch: int, what: str) -> None:
    """Scores are ``(N,)``, or ``(N, P)`` one per patch (``N // pack`` rows for a packed critic)."""
    column = scores.dim() == 2 and scores.shape[1] == 1  # (N, 1): a forgotten squeeze, not patches
    if scores.dim() not in (1, 2) or column or not scores.is_floating_point() or batch % scores.shape[0]:
        raise GancoreError(f"the {what} returned scores of shape {tuple(scores.shape)} ({scores.dtype}) for a batch of "
                           f"{batch}: a critic returns floating (N,) scores, or (N, P) with one per patch")


def _check_scalar(value: Tensor, what: str) -> Tensor:
    if not isinstance(value, Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise GancoreError(f"the {what} returned {shape}, not a scalar: a loss averages over the batch")
    return value


def critic_rounds(batches: Batches, n_critic: int) -> Iterator[tuple[dict[str, Tensor], ContextManager[Any]]]:
    """``n_critic`` rounds of (batch, generating): generate the round's fakes inside
    ``generating``. Only the last round keeps the generator's graph, so the generator's
    update can reuse its fakes instead of running the generator again."""
    for i in range(n_critic):
        yield batches.next(), (torch.enable_grad() if i == n_critic - 1 else torch.no_grad())


def critic_update(
    updates: Updates,
    loss: AdversarialLoss,
    *judged: tuple[nn.Module, Tensor, Tensor],
    labels: Tensor | None = None,
    regularizers: Sequence[Regularizer] = (),
    group: str = "critic",
) -> dict[str, Tensor]:
    """One update of the critics that each judge their own real and generated samples,
    given as ``(critic, real, fake)`` triples (one for a GAN, two for a translation
    scheme's domain critics). ``labels`` go to every critic call (class-conditional
    critics); the regularizers' penalties are added for each critic and their after-step
    constraints applied to each. ``fake`` is detached (and given ``real``'s dtype) here.

    Returns the logs: ``loss_critic`` (the adversarial part), ``penalty`` when there is
    one, and ``score_real`` / ``score_fake``, the mean scores averaged over the critics.
    """
    if not judged:
        raise ValueError("critic_update needs at least one (critic, real, fake) triple")
    adversarial: Tensor | None = None
    penalties: list[Tensor] = []
    real_means, fake_means = [], []
    augmented: list[Augmentation] = []
    with updates.loss_scale(group):
        for critic, real, fake in judged:
            # Fakes made under autocast come in half precision; the critic's inputs (and a
            # penalty's interpolates between real and fake) share the real data's dtype.
            judge, fake = _judge(critic, labels), fake.detach().to(real.dtype)
            _check_samples(real, fake)
            real_scores, fake_scores = judge(real), judge(fake)
            _check_scores(real_scores, real.shape[0], f"critic ({type(_unwrapped(critic)).__name__})")
            term = _check_scalar(loss.critic(real_scores, fake_scores), f"loss's critic objective ({type(loss).__name__})")
            adversarial = term if adversarial is None else adversarial + term
            real_means.append(real_scores.detach().mean())
            fake_means.append(fake_scores.detach().mean())
            augmentation = augmentation_of(critic)
            if augmentation is not None:
                augmentation.observe(real_scores.detach())
                augmented.append(augmentation)
            for reg in regularizers:
                penalty = reg.score_penalty(real_scores, fake_scores)
                if penalty is not None:
                    penalties.append(_check_scalar(penalty, f"regularizer's score penalty ({type(reg).__name__})"))
            with _uncompiled(critic):
                for reg in regularizers:
                    penalty = reg.penalty(judge, real, fake)
                    if penalty is not None:
                        penalties.append(_check_scalar(penalty, f"regularizer's penalty ({type(reg).__name__})"))
    assert adversarial is not None
    one = len(judged) == 1  # the common case, without stacking a single value
    logs = {
        "loss_critic": adversarial.detach(),
        "score_real": real_means[0] if one else torch.stack(real_means).mean(),
        "score_fake": fake_means[0] if one else torch.stack(fake_means).mean(),
    }
    for augmentation in dict.fromkeys(augmented):  # one critic's or several critics' shared one
        logs |= augmentation.logs()
    total = adversarial
    if penalties:
        penalty_sum = torch.stack(penalties).sum()
        total = total + penalty_sum
        logs["penalty"] = penalty_sum.detach()

    def constrain() -> None:
        for reg in regularizers:
            for critic, _, _ in judged:
                reg.after_critic_step(critic)

    updates.step(group, total, after_step=constrain if regularizers else None)
    return logs


def generator_loss(
    loss: AdversarialLoss,
    critic: nn.Module,
    fake: Tensor,
    real: Tensor,
    *,
    labels: Tensor | None = None,
    fake_scores: Tensor | None = None,
) -> Tensor:
    """The generator's adversarial term: how far ``fake`` is from fooling ``critic``.

    A relativistic loss (``needs_real_in_generator_step``) also gets the critic's scores
    of ``real``, taken without gradients. The critic's weights record no gradients here.
    ``fake_scores`` replaces ``critic(fake)`` when the scheme has them already (InfoGAN
    shares the critic's body with its Q head).
    """
    judge = _judge(critic, labels)
    real_scores = None
    if loss.needs_real_in_generator_step:
        with torch.no_grad():
            real_scores = judge(real)
    if fake_scores is None:
        with frozen(critic):
            fake_scores = judge(fake)
    return _check_scalar(loss.generator(fake_scores, real_scores), f"loss's generator objective ({type(loss).__name__})")


def input_gradients(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d(sum of the critic's scores)/dx, one row per sample, kept differentiable so a
    gradient penalty backpropagates into the critic. ``x`` must require grad.

    Under fp16 the scores are scaled by the update's loss scale before differentiating
    and the gradients unscaled after (PyTorch's recipe for gradient penalties under
    GradScaler), so small input gradients do not vanish in half precision.
    """
    scores = critic(x)
    scale = current_loss_scale()
    with torch.autocast(x.device.type, enabled=False):
        if scale is None:
            (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        else:
            # Scaled like a mean loss: each score's gradient is scale / N, as in the update.
            factor = scale / scores.numel()
            (grad,) = torch.autograd.grad(scores.float().sum() * factor, x, create_graph=True)
            grad = grad / factor
    return grad.flatten(1)
