"""One training step as a scheme sees it: ``Scheme.train_step(step)``.

``step`` is the only door from a scheme to the engine. Through it a scheme draws real
batches (``step.batch()``, ``step.critic_rounds(n)``) and noise (``step.randn``), calls its
critics (``step.judge(critic)``, or ``step.augment(x)`` before calling a critic's body and
heads itself), and asks for updates (``step.update(group, loss)``, ``step.critic_update``).
The run's augmentation is applied by these calls and nowhere else: nothing reaches a
scheme's networks by a hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ContextManager

import torch
from torch import Tensor, nn

from ._engine import Engine
from ._errors import GancoreError
from ._parts import AdversarialLoss, Augment, Batches, Regularizer
from ._random import Random


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


class Augmentation(nn.Module):
    """The recipe's ``[[augment]]`` parts, applied in order. The run registers it in the
    scheme (``scheme.augmentation``), so its buffers are in every checkpoint."""

    def __init__(self, augments: Sequence[Augment]) -> None:
        super().__init__()
        self.augments = nn.ModuleList(augments)

    def _each(self) -> Iterator[Augment]:
        """The augments, typed (an ``nn.ModuleList`` yields plain modules)."""
        for augment in self.augments:
            assert isinstance(augment, Augment)  # __init__ takes Augments (the run checks each)
            yield augment

    def forward(self, x: Tensor) -> Tensor:
        for augment in self.augments:
            out = augment(x)
            if not isinstance(out, Tensor) or out.shape != x.shape:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise TypeError(f"augment {type(augment).__name__} returned {got} for a batch of shape "
                                f"{tuple(x.shape)}: an augmentation keeps the batch's shape")
            x = out
        return x

    def observe(self, real_scores: Tensor) -> None:
        for augment in self._each():
            augment.observe(real_scores)

    def logs(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for augment in self._each():
            out |= augment.logs()
        return out


class Judge:
    """A critic as a training step calls it: the run's augmentation applied to every input,
    the labels bound. Penalties receive it as their ``critic``; ``gancore.input_gradients``
    reads the update's loss scale from it."""

    def __init__(self, critic: nn.Module, labels: Tensor | None, augment: Callable[[Tensor], Tensor],
                 loss_scale: float | None = None) -> None:
        self.critic, self.labels, self.augment, self.loss_scale = critic, labels, augment, loss_scale

    def __call__(self, x: Tensor) -> Tensor:
        x = self.augment(x)
        scores: Tensor = self.critic(x) if self.labels is None else self.critic(x, self.labels)
        return scores


def input_gradients(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d(sum of the critic's scores)/dx, one row per sample, kept differentiable so a
    gradient penalty backpropagates into the critic. ``x`` must require grad.

    Under fp16 (``critic`` is the ``Judge`` a penalty is given) the scores are scaled by the
    update's loss scale before differentiating and the gradients unscaled after (PyTorch's
    recipe for gradient penalties under GradScaler), so small input gradients do not
    vanish in half precision.
    """
    scores = critic(x)
    scale = critic.loss_scale if isinstance(critic, Judge) else None
    with torch.autocast(x.device.type, enabled=False):
        if scale is None:
            (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        else:
            # Scaled like a mean loss: each score's gradient is scale / N, as in the update.
            factor = scale / scores.numel()
            (grad,) = torch.autograd.grad(scores.float().sum() * factor, x, create_graph=True)
            grad = grad / factor
    return grad.flatten(1)


class Step:
    """Training step ``number`` (0-based) of a run, handed to ``Scheme.train_step``."""

    def __init__(self, number: int, engine: Engine, batches: Batches, random: Random,
                 augmentation: Augmentation | None = None) -> None:
        self.number, self.engine, self.batches, self.random = number, engine, batches, random
        self.augmentation = augmentation

    # -- data and noise -------------------------------------------------------------------

    def batch(self) -> dict[str, Tensor]:
        """The next real batch: this process's rows of it, on the training device."""
        return self.batches.next()

    def critic_rounds(self, n_critic: int) -> Iterator[tuple[dict[str, Tensor], ContextManager[Any]]]:
        """``n_critic`` rounds of (batch, generating): generate the round's fakes inside
        ``generating``. Only the last round keeps the generator's graph, so the generator's
        update can reuse its fakes instead of running the generator again."""
        for i in range(n_critic):
            yield self.batch(), (torch.enable_grad() if i == n_critic - 1 else torch.no_grad())

    def randn(self, n: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``n`` rows of standard normal noise (latent codes: ``step.randn(n, dim)``), this
        process's rows of the job's draw, on the training device unless ``device`` says."""
        return self.random.randn(n, *shape, device=device or self.engine.device)

    def rand(self, n: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``n`` rows of values uniform in [0, 1)."""
        return self.random.rand(n, *shape, device=device or self.engine.device)

    def randint(self, high: int, n: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``n`` rows of whole numbers uniform in 0 .. high - 1."""
        return self.random.randint(high, n, *shape, device=device or self.engine.device)

    # -- critics --------------------------------------------------------------------------

    def augment(self, x: Tensor) -> Tensor:
        """``x`` as the run's critics see it: through the recipe's ``[[augment]]`` parts
        (unchanged without any). A scheme that calls a critic's body and heads itself
        (InfoGAN's ``D.features``) passes the samples through this first."""
        return x if self.augmentation is None else self.augmentation(x)

    def judge(self, critic: nn.Module, labels: Tensor | None = None, *, group: str = "critic") -> Judge:
        """``critic`` as this step calls it: augmented inputs, ``labels`` bound; under fp16
        it carries ``group``'s loss scale for the penalties that differentiate it."""
        return Judge(critic, labels, self.augment, self.engine.loss_scale(group))

    # -- updates --------------------------------------------------------------------------

    def update(self, group: str | Sequence[str], loss: Tensor, *, after_step: Callable[[], None] | None = None) -> None:
        """Update ``group`` (an optimizer group of the scheme's ``networks``, or several
        sharing one backward pass) to lower ``loss``; see ``Engine.update``."""
        self.engine.update(group, loss, after_step=after_step)

    def critic_update(
        self,
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
        one, ``score_real`` / ``score_fake`` (the mean scores over the critics), and the
        augmentation's own values (ADA's ``ada_p``).
        """
        if not judged:
            raise ValueError("critic_update needs at least one (critic, real, fake) triple")
        penalizing = [reg for reg in regularizers if type(reg).penalty is not Regularizer.penalty]
        # Lazy regularization (train.regularize_every = k > 1): the penalties only every
        # k-th step, scaled by k, in an update of their own after the adversarial one.
        regularize = self.engine.regularizing(group) if penalizing else False
        lazy = self.engine.regularize_every > 1
        adversarial: Tensor | None = None
        penalties: list[Tensor] = []
        real_means, fake_means = [], []
        judges = []  # (critic, judge, real, fake), for the lazy penalties
        for critic, real, fake in judged:
            # Fakes made under autocast come in half precision; the critic's inputs (and a
            # penalty's interpolates between real and fake) share the real data's dtype.
            judge, fake = self.judge(critic, labels, group=group), fake.detach().to(real.dtype)
            judges.append((critic, judge, real, fake))
            _check_samples(real, fake)
            real_scores, fake_scores = judge(real), judge(fake)
            _check_scores(real_scores, real.shape[0], f"critic ({type(_unwrapped(critic)).__name__})")
            term = _check_scalar(loss.critic(real_scores, fake_scores), f"loss's critic objective ({type(loss).__name__})")
            adversarial = term if adversarial is None else adversarial + term
            real_means.append(real_scores.detach().mean())
            fake_means.append(fake_scores.detach().mean())
            if self.augmentation is not None:
                self.augmentation.observe(real_scores.detach())
            for reg in regularizers:
                penalty = reg.score_penalty(real_scores, fake_scores)
                if penalty is not None:
                    penalties.append(_check_scalar(penalty, f"regularizer's score penalty ({type(reg).__name__})"))
            if regularize and not lazy:
                penalties += self._penalties(penalizing, critic, judge, real, fake)
        assert adversarial is not None
        one = len(judged) == 1  # the common case, without stacking a single value
        logs = {
            "loss_critic": adversarial.detach(),
            "score_real": real_means[0] if one else torch.stack(real_means).mean(),
            "score_fake": fake_means[0] if one else torch.stack(fake_means).mean(),
        }
        if self.augmentation is not None:
            logs |= self.augmentation.logs()
        total = adversarial
        if penalties:
            penalty_sum = torch.stack(penalties).sum()
            total = total + penalty_sum
            logs["penalty"] = penalty_sum.detach()

        def constrain() -> None:
            for reg in regularizers:
                for critic, _, _ in judged:
                    reg.after_critic_step(critic)

        self.update(group, total, after_step=constrain if regularizers else None)
        if regularize and lazy:
            # The updated critic's penalties (StyleGAN2's separate regularization pass),
            # weighted by k so that on average they count as in every update. A new judge
            # carries the loss scale as it is now (fp16).
            lazy_penalties = [p for critic, _, real, fake in judges
                              for p in self._penalties(penalizing, critic, self.judge(critic, labels, group=group), real, fake)]
            if lazy_penalties:
                lazy_sum = torch.stack(lazy_penalties).sum()
                logs["penalty"] = lazy_sum.detach() + logs["penalty"] if "penalty" in logs else lazy_sum.detach()
                self.update(group, lazy_sum * self.engine.regularize_every, after_step=constrain)
        return logs

    def _penalties(self, regularizers: Sequence[Regularizer], critic: nn.Module, judge: Judge, real: Tensor,
                   fake: Tensor) -> list[Tensor]:
        out = []
        with _uncompiled(critic):
            for reg in regularizers:
                penalty = reg.penalty(judge, real, fake)
                if penalty is not None:
                    out.append(_check_scalar(penalty, f"regularizer's penalty ({type(reg).__name__})"))
        return out

    def generator_loss(
        self,
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
        shares the critic's body with its Q head; it augments ``fake`` itself).
        """
        judge = self.judge(critic, labels)
        real_scores = None
        if loss.needs_real_in_generator_step:
            with torch.no_grad():
                real_scores = judge(real)
        if fake_scores is None:
            with frozen(critic):
                fake_scores = judge(fake)
        return _check_scalar(loss.generator(fake_scores, real_scores), f"loss's generator objective ({type(loss).__name__})")


# -- checks and helpers ---------------------------------------------------------------------------


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
