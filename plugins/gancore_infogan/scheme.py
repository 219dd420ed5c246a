"""The InfoGAN training step: a GAN step plus the mutual-information term on G and Q."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import Field
from torch import Tensor, nn

import gancore

from .codes import LatentLayout, check_codes, grid_categories
from .information import QOutput, information_loss
from .networks import QHead

if TYPE_CHECKING:
    from typing_extensions import TypeIs


class _CriticBody(Protocol):
    """What the scheme reads of its critic besides the module itself: the shared body, the
    score on it, and the body's width (the ``infogan`` critic; under DDP its wrapper passes
    them on)."""

    feature_dim: int

    def features(self, x: Tensor) -> Tensor: ...

    def score(self, h: Tensor) -> Tensor: ...


def _exposes_body(critic: object) -> TypeIs[_CriticBody]:
    """Whether the critic has ``features`` and ``score`` methods and an integer ``feature_dim``."""
    exposes_body = callable(getattr(critic, "features", None)) and callable(getattr(critic, "score", None))
    return exposes_body and isinstance(getattr(critic, "feature_dim", None), int)


def _layout_of(generator: nn.Module, categories: int, continuous: int) -> LatentLayout:
    """The latent layout the generator reads: noise first, then the codes."""
    latent_dim = getattr(generator, "latent_dim", None)
    if not isinstance(latent_dim, int):
        raise ValueError("the generator needs an integer latent_dim attribute (the size of its input)")
    for attr, want in (("categories", categories), ("continuous", continuous)):
        have = getattr(generator, attr, want)
        if have != want:
            raise ValueError(
                f"generator.{attr} = {have} but scheme.{attr} = {want}: the generator must read the codes "
                f"the scheme draws; set [generator] {attr} = {want}"
            )
    noise_dim = latent_dim - categories - continuous
    if noise_dim < 1:
        raise ValueError(
            f"the generator's latent_dim ({latent_dim}) leaves no room for noise next to "
            f"{categories} categories and {continuous} continuous codes"
        )
    return LatentLayout(noise_dim, categories, continuous)


class InfoGAN(gancore.Scheme):
    """InfoGAN (Chen et al. 2016): latent codes the generator must keep readable by a Q head.

    Each step draws ``[z | one-hot category | continuous codes]``, updates the critic as
    a plain GAN does, then updates the generator and the Q head (which shares the critic's
    body) on the adversarial loss plus the mutual-information term: cross-entropy of the
    category and Gaussian NLL (unit variance) of the continuous codes, as Q reads them from
    the fake. The scheme owns the Q head (on the critic's ``features``); its parameters
    are in the generator's optimizer group (the paper's setup: its learning rate is G's);
    the critic's body learns from the adversarial loss only. ``sample(labels=k)`` fixes
    the category to k.

    Args:
        categories: values of the categorical code (0: none); must match the networks
        continuous: number of continuous codes, uniform in [-1, 1]; must match the networks
        info_weight: weight of the mutual-information term (lambda; 1 in the paper)
        continuous_weight: weight of the continuous codes' NLL inside that term
        q_hidden: units of the Q head's hidden layer (128 in the paper)
        q_norm: normalization in the Q head
        n_critic: critic updates per generator update
    """

    slots = {
        "generator": gancore.Slot("generator", help="maps noise z and the codes to samples"),
        "critic": gancore.Slot("critic", help="scores samples; its body features feed the Q head"),
        "loss": gancore.Slot("loss", default="non-saturating", help="adversarial objectives"),
        "regularizers": gancore.Slot("regularizer", many=True, required=False, help="critic penalties and constraints"),
    }
    # The Q head learns with the generator (the paper's setup: its learning rate is G's).
    networks = {"generator": ("generator", "q_head"), "critic": ("critic",)}
    # Q reads the live critic's body, so only the generator is averaged.
    ema_networks = ("generator",)

    def __init__(
        self,
        *,
        generator: nn.Module,
        critic: nn.Module,
        loss: gancore.AdversarialLoss,
        regularizers: Sequence[gancore.Regularizer] = (),
        spec: gancore.DataSpec,
        build: gancore.Build = gancore.build,
        categories: Annotated[int, Field(ge=0, le=1024)] = 10,
        continuous: Annotated[int, Field(ge=0, le=1024)] = 2,
        info_weight: Annotated[float, Field(ge=0)] = 1.0,
        continuous_weight: Annotated[float, Field(ge=0)] = 0.1,
        q_hidden: Annotated[int, Field(ge=1, le=16384)] = 128,
        q_norm: Annotated[str, gancore.Ref("normalization")] = "batch",
        n_critic: Annotated[int, Field(ge=1, le=100)] = 1,
    ) -> None:
        super().__init__()
        check_codes(categories, continuous)
        if getattr(generator, "num_classes", None) or getattr(critic, "num_classes", None):
            raise ValueError("InfoGAN learns its categories unsupervised: use unconditional networks")
        self.layout = _layout_of(generator, categories, continuous)
        if not _exposes_body(critic):  # narrows the critic: self.critic has its body's methods
            raise ValueError(
                "the infogan scheme needs a critic that exposes its shared body: features(x) -> N x feature_dim, "
                f"score(h) -> scores and a feature_dim attribute, such as critic 'infogan'; got {type(critic).__name__}"
            )
        self.generator, self.critic = generator, critic
        self.q_head = QHead(critic.feature_dim, q_hidden, categories, continuous, q_norm, build=build)
        self.loss, self.regularizers = loss, list(regularizers)
        self.info_weight, self.continuous_weight, self.n_critic = info_weight, continuous_weight, n_critic
        # Not class-conditional: the critic never sees a label, and evaluation must not
        # pair real labels with categories (category k need not be digit k).
        self.num_classes = None
        # How many values ``sample(labels=...)`` accepts: the categorical code's.
        self.sample_labels = categories or None

    def q(self, x: Tensor) -> QOutput:
        """Q's reading of the codes of samples ``x`` (generated or real)."""
        return self.q_head(self.critic.features(x))

    def train_step(self, step: gancore.Step) -> dict[str, Tensor]:
        D = self.critic
        for batch, generating in step.critic_rounds(self.n_critic):
            real = batch["x"]
            codes = self.layout.draw(real.shape[0], real.device, step.random)
            with generating:
                fake = self.generator(codes.latent)
            logs = step.critic_update(self.loss, (D, real, fake), regularizers=self.regularizers)

        # Generator + Q update on the last round's fakes: the critic's body runs once for
        # both heads, its weights recording no gradients (they pass to the fake).
        # The critic's body is called directly, so the samples go through the run's
        # augmentation here, as every other critic call does.
        with gancore.frozen(D):
            h = D.features(step.augment(fake))
            fake_scores = D.score(h)
        gen_loss = step.generator_loss(self.loss, D, fake, real, fake_scores=fake_scores)
        info = information_loss(self.q_head(h), codes, info_weight=self.info_weight, continuous_weight=self.continuous_weight)
        step.update("generator", gen_loss + info.total)
        return logs | {
            "loss_generator": gen_loss.detach(),
            "info_categorical": info.categorical.detach(),
            "info_continuous": info.continuous.detach(),
            "q_accuracy": info.accuracy,
        }

    def sample(self, request: gancore.SampleRequest) -> Tensor:
        """``n`` samples; ``labels`` fix the categorical code, else the grid shows category k on row k."""
        n, category = request.n, None
        if request.labels is not None:
            category = self._checked_categories(request.labels, n)
        elif self.layout.categories:
            category = self.sample_classes(n, self.layout.categories)
        codes = self.layout.draw(n, request.device, gancore.Random(request.generator), category=category)
        return self.generator(codes.latent)

    def sample_classes(self, n: int, classes: int) -> Tensor:
        """Category k on row k of a sample grid."""
        return grid_categories(n, classes)

    def _checked_categories(self, labels: Tensor, n: int) -> Tensor:
        k = self.layout.categories
        if not k:
            raise ValueError("this InfoGAN has no categorical code: labels do not apply")
        labels = labels.reshape(-1).long()
        if labels.numel() != n:
            raise ValueError(f"got {labels.numel()} labels for {n} samples")
        if int(labels.min()) < 0 or int(labels.max()) >= k:
            raise ValueError(f"category out of range: this model's categorical code takes 0..{k - 1}")
        return labels
