"""The interfaces of a GAN's parts. Plugins implement them; the core only calls them.

Networks (generators, critics) are plain ``torch.nn.Module``s with a small convention
(see ``Generator`` and ``Critic`` below), so a user's own module works unregistered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeGuard, runtime_checkable

import torch
from torch import Tensor, nn

from ._latents import TRUNCATION_METHOD
from ._latents import truncate as truncated_codes
from ._random import Random

if TYPE_CHECKING:
    from pathlib import Path


# ---------------------------------------------------------------- data


def as_float(t: Tensor) -> Tensor:
    """A field as schemes see it: uint8 image data (0..255) as float32 in [-1, 1], on its
    own device, one batch at a time; any other tensor as it is."""
    return t.float().div_(127.5).sub_(1.0) if t.dtype == torch.uint8 else t


@dataclass(frozen=True)
class DataSpec:
    """What networks need to know about the data; injected into factories that ask for it.

    ``shape`` is one sample of the main field ``x``: ``(C, H, W)`` for images, ``(2,)`` for
    points. ``fields`` gives every field's per-sample shape (``x``, ``label``, ``y``, ...).
    ``class_names``, where the data has them, name the classes in label order.
    """

    shape: tuple[int, ...]
    num_classes: int | None = None
    fields: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3


@dataclass
class Dataset:
    """A dataset held in memory: named tensors sharing their first dimension.

    ``x`` is required (images as N x C x H x W, or points as N x D); ``label`` (int64, N)
    makes it conditional. Schemes with paired or unpaired data use further fields. Image
    fields are best held as uint8 (0..255): a quarter of float32's memory. Batches give
    every uint8 field as float32 in [-1, 1] (``as_float``), so schemes and networks see
    floats whatever the storage; floating image fields are in [-1, 1] already. The engine
    moves every tensor to the training device once and indexes batches there.
    A mixture of Gaussians also gives ``modes`` (K x D centres) and ``mode_std`` (their
    spread), which mode-counting metrics score generated points against.
    """

    tensors: dict[str, Tensor]
    num_classes: int | None = None
    modes: Tensor | None = None
    mode_std: float | None = None
    class_names: Sequence[str] | None = None  # in label order, where the classes have names


    def __post_init__(self) -> None:
        if "x" not in self.tensors:
            raise ValueError("a Dataset needs an 'x' tensor")
        sizes = {name: t.shape[0] for name, t in self.tensors.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"dataset tensors differ in length: {sizes}")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")

    def __len__(self) -> int:
        return self.tensors["x"].shape[0]

    @property
    def spec(self) -> DataSpec:
        return DataSpec(
            shape=tuple(self.tensors["x"].shape[1:]),
            num_classes=self.num_classes,
            fields={k: tuple(v.shape[1:]) for k, v in self.tensors.items()},
            class_names=tuple(self.class_names) if self.class_names is not None else None,
        )


class Batches(Protocol):
    """What a scheme draws its real data from: ``next()`` gives a dict of batch tensors."""

    batch_size: int

    def next(self) -> dict[str, Tensor]: ...


# ---------------------------------------------------------------- networks


@runtime_checkable
class Generator(Protocol):
    """``forward(z, labels=None) -> samples``. Attributes: ``latent_dim`` (int) and, when
    class-conditional, ``num_classes`` (int). Image-to-image generators take an image as
    ``z`` and need no ``latent_dim``.

    Optional: ``truncated(z, psi, labels=None) -> samples``, the truncation trick in the
    generator's own terms (a mapping network's: ``w`` pulled towards its average by
    ``psi``). Sampling with a truncation calls it with standard normal ``z`` where it
    exists; otherwise ``z`` itself is truncated (elements outside ``[-psi, psi]`` drawn
    again)."""

    def __call__(self, z: Tensor, labels: Tensor | None = None) -> Tensor: ...


@runtime_checkable
class Critic(Protocol):
    """``forward(x, labels=None) -> scores`` of shape ``(N,)`` (``(N // pack,)`` for a
    packed critic; a PatchGAN keeps one score per patch: ``(N, P)``). Losses average over
    every score. ``num_classes`` when conditional; ``pack`` (default 1) when packing."""

    def __call__(self, x: Tensor, labels: Tensor | None = None) -> Tensor: ...


class Normalization:
    """A normalization as two hooks a network calls while it builds its layers.

    Activation norms (batch, layer, ...) return a module from ``layer`` and leave
    ``wrap`` alone; weight reparametrisations (spectral, weight) do the reverse. So the
    same architecture swaps BN, WN and SN by name.
    """

    def layer(self, num_features: int, *, spatial: bool) -> nn.Module:
        """The normalization module placed after a linear/conv layer."""
        return nn.Identity()

    def wrap(self, module: nn.Module) -> nn.Module:
        """The linear/conv layer itself, reparametrised if this norm does so."""
        return module


# ---------------------------------------------------------------- objectives


class AdversarialLoss:
    """The adversarial objectives, from critic scores (raw, before any sigmoid)."""

    #: Whether ``generator`` needs the real scores (relativistic losses do). The scheme
    #: then runs the critic on a real batch in the generator step too.
    needs_real_in_generator_step: ClassVar[bool] = False

    def critic(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        raise NotImplementedError


class Regularizer:
    """A critic regularizer: a penalty added to the critic loss, and/or a constraint
    applied to the critic after each of its optimizer steps (WGAN's clipping)."""

    def penalty(
        self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor
    ) -> Tensor | None:
        """A scalar added to the critic loss. ``critic`` is the critic as the update calls
        it (a ``gancore.Judge``: labels bound, the run's augmentation applied); take input
        gradients of it with ``gancore.input_gradients``, and draw random values from a
        ``gancore.Random`` the regularizer declares as a parameter."""
        return None

    def score_penalty(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor | None:
        """A scalar added to the critic loss, from the scores the update computed already
        (LeCam): no extra critic pass. State it keeps across steps (moving averages) must
        live in buffers of an ``nn.Module`` regularizer, so the checkpoint holds it."""
        return None

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        """Constrain the critic's weights in place."""


class Augment(nn.Module):
    """A differentiable augmentation of a batch, ``(N, ...) -> (N, ...)`` of the same shape,
    which the training step applies to real and generated samples alike before every critic
    call (``Step.judge``, ``Step.augment``).

    ``forward`` must be differentiable in its input (the generator learns through it) and
    draw its randomness from a ``gancore.Random`` it declares as a parameter (the run's is
    injected), so that a run repeats and resumes exactly. State that changes in training
    (ADA's probability) lives in buffers: the checkpoint keeps it.
    """

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def observe(self, real_scores: Tensor) -> None:
        """The critic's scores of the (augmented) real batch, after each critic forward
        pass of a critic update, detached: what an adaptive augmentation steers by."""

    def logs(self) -> dict[str, Tensor]:
        """Values for the metrics rows (``ada_p``), as tensors: logging does not sync."""
        return {}


class ImageLoss:
    """A distance between two batches of images (or sequences), with its weight applied
    by the scheme. Used by image-to-image schemes: L1, cycle, identity, feature, ..."""

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError


# ---------------------------------------------------------------- schemes


@dataclass(frozen=True)
class Slot:
    """A part a scheme takes from the recipe: the recipe's top-level table of the same name.

    ``many`` slots are arrays of tables (``[[regularizers]]``); ``default`` names the
    part used when the recipe leaves a single slot out.
    """

    kind: str
    many: bool = False
    required: bool = True
    default: str | None = None
    help: str = ""


class Scheme(nn.Module):
    """What a training step optimises. Owns the networks (as submodules, so ``state_dict``
    checkpoints them all) and the objectives; the engine owns the loop, the optimizers and
    every update, precision, EMA, devices, logging and checkpoints.

    A scheme class declares ``slots`` (which parts the recipe gives it, by kind) and takes
    them, built, as keyword arguments of the same names, next to its own typed parameters.
    It declares ``networks``: per optimizer group, the attributes holding the networks
    that group trains. The engine derives the optimizers, the EMA copies and their swap
    for sampling from it.

    Instance attributes the engine reads: ``num_classes`` when the networks are conditioned
    on the data's labels (evaluation then asks for samples of the real labels), and
    ``sample_labels`` when ``sample`` accepts classes that are not data labels (InfoGAN's
    categorical code); either makes ``gancore sample --label K`` valid.
    """

    slots: ClassVar[Mapping[str, Slot]] = {}
    #: Optimizer group -> the attribute names of the networks it trains. Each group has
    #: an ``[optim.<group>]`` table in the recipe and its own optimizer.
    networks: ClassVar[Mapping[str, tuple[str, ...]]] = {"generator": ("generator",), "critic": ("critic",)}
    #: Networks whose weights get an exponential moving average (when ``ema.decay > 0``);
    #: None means every network outside the ``critic`` group.
    ema_networks: ClassVar[tuple[str, ...] | None] = None
    #: Whether ``sample`` needs a ``batch`` of source data (translation schemes).
    needs_data_to_sample: ClassVar[bool] = False
    #: Networks (attribute names) some of whose parameters an update may leave without a
    #: gradient, such as a branch used for one domain only. In a job of several
    #: processes DDP must then search each backward for them (a little slower); any
    #: other network must use all its parameters in every update it takes part in.
    networks_with_unused_parameters: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def groups(cls) -> tuple[str, ...]:
        return tuple(cls.networks)

    @classmethod
    def averaged_networks(cls) -> tuple[str, ...]:
        if cls.ema_networks is not None:
            return tuple(cls.ema_networks)
        return tuple(n for g, names in cls.networks.items() if g != "critic" for n in names)

    def group_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Each optimizer group's parameters, from ``networks`` (a network shared by two
        groups is an error: one optimizer owns each weight)."""
        out: dict[str, list[nn.Parameter]] = {}
        owner: dict[int, str] = {}
        for group, names in self.networks.items():
            params: list[nn.Parameter] = []
            for name in names:
                module = getattr(self, name, None)
                if not isinstance(module, nn.Module):
                    raise TypeError(f"{type(self).__name__}.networks names {name!r}, which is not a network of the scheme")
                for p in module.parameters():
                    if id(p) in owner:
                        if owner[id(p)] != group:
                            raise TypeError(f"a weight of {name!r} is in optimizer groups {owner[id(p)]!r} and {group!r}")
                        continue
                    owner[id(p)] = group
                    params.append(p)
            out[group] = params
        return out

    def train_step(self, step: Any) -> dict[str, Tensor]:
        """One training step (for example n_critic critic updates, then one generator
        update). ``step`` (a ``gancore.Step``: annotate it so in a scheme; the interfaces
        here import nothing of the engine) is everything the step can touch: real
        batches, noise, the critics as the run calls them (augmented), and the updates
        (``step.update(group, loss)``). Returns detached scalar tensors to log; the engine
        syncs them rarely."""
        raise NotImplementedError

    def sample(self, request: "SampleRequest") -> Tensor:
        """``request.n`` samples (see ``gancore.SampleRequest``)."""
        raise NotImplementedError

    def sample_classes(self, n: int, classes: int) -> Tensor:
        """The classes ``n`` samples are drawn for when none are asked for (a conditional
        scheme's): every class in turn. The engine passes them as ``request.labels`` and
        stores them with the samples, so labels always match what was drawn."""
        return torch.arange(n) % classes


# ---------------------------------------------------------------- callbacks


class Callback:
    """Code that runs during training (kind ``callback``): trackers, loggers, a user's
    own hooks. Every method is optional; ``run`` is the ``gancore.Run`` being trained.
    A callback's exception stops the run (after ``on_failure`` reached the others)."""

    def on_start(self, run: Any) -> None:
        """Before the first step of this ``train`` call (also when resuming)."""

    def on_log(self, run: Any, row: Mapping[str, float]) -> None:
        """A metrics row (``step``, ``seconds``, losses, scores, evaluation results)."""

    def on_samples(self, run: Any, samples: Tensor, path: "Path") -> None:
        """A sample grid (or scatter plot) was written to ``path`` (a PNG)."""

    def on_checkpoint(self, run: Any, path: "Path") -> None:
        """A checkpoint was written to ``path``."""

    def on_end(self, run: Any) -> None:
        """Training reached its last step."""

    def on_failure(self, run: Any, error: BaseException) -> None:
        """Training stopped early: interrupted, diverged, or crashed."""


# ---------------------------------------------------------------- building and optimizing


class Build(Protocol):
    """``build(kind, name, params=None, /, **injected)``: builds a registered part.

    A factory that declares a parameter of this type receives one bound to the registry
    building the factory's own part, so the parts it builds in turn (a network's
    normalization, a metric's feature space) come from that same registry: a run's own
    registry, not only the process's. ``injected`` values (``spec=...``) are passed on as
    given; a nested part gets the spec its builder hands it, not its builder's.
    """

    def __call__(self, kind: str, name: str, params: Mapping[str, Any] | None = None, /, **injected: Any) -> Any: ...


class Parameters(list[nn.Parameter]):
    """The weights one optimizer group trains, injected into factories of kind ``optimizer``."""


INJECTABLE: dict[type, str] = {DataSpec: "spec", Build: "build", Parameters: "parameters", Random: "random"}
"""Factory parameter types the engine supplies instead of the recipe, with the keyword
the engine supplies each under (``Registry.build(..., spec=...)``)."""

KINDS: dict[str, str] = {
    "generator": "maps latent codes (and labels) or images to samples",
    "critic": "scores samples: the discriminator",
    "loss": "adversarial objectives of critic and generator",
    "regularizer": "critic penalty or weight constraint",
    "normalization": "activation normalization or weight reparametrisation",
    "image-loss": "distance between images, for image-to-image schemes",
    "dataset": "training data: tensors in memory, or images mapped from a cache",
    "scheme": "the training step that wires networks and losses",
    "metric": "sample-quality measure",
    "features": "feature network for metrics",
    "callback": "code run during training: trackers, loggers",
    "optimizer": "updates a group of weights from their gradients",
    "augment": "differentiable augmentation of real and generated samples before every critic call",
}
"""The core's kinds of part, with what each is; plugins may add kinds of their own
(``register_kinds``), which each registry holds next to these (``Registry.kinds``)."""



# -- sampling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRequest:
    """``n`` samples on ``device``: ``labels`` (N,) for class-conditional schemes,
    ``batch`` of source data for schemes that translate (``needs_data_to_sample``), and
    the ``generator`` every latent draw must use (so samples repeat with the seed).

    The engine has already put the EMA weights in place, switched the networks to eval
    mode and turned gradients off."""

    n: int
    device: torch.device
    labels: Tensor | None = None
    batch: Mapping[str, Tensor] | None = None
    generator: torch.Generator | None = None
    #: Truncation's bound (``gancore sample --truncation``): codes drawn within it.
    truncation: float | None = None
    #: Codes to use instead of drawing them (``gancore sample --latents``): n x dim.
    latents: Tensor | None = None
    #: The sizes of the codes ``latent`` handed out: how the engine knows that a scheme
    #: used the request's codes, and so that truncation or given codes took effect.
    drawn: list[int] = field(default_factory=list, init=False, compare=False, repr=False)

    def latent(self, dim: int, *, truncate: bool = True) -> Tensor:
        """``n`` standard normal codes of size ``dim``, drawn on the CPU from ``generator``
        (the same samples on every device), then moved to ``device``. With ``truncation``
        every element outside ``[-truncation, truncation]`` is drawn again inside it (the
        truncation trick; ``truncate=False`` leaves that to the caller); with ``latents``
        these codes are returned instead (truncated likewise)."""
        self.drawn.append(dim)
        if self.latents is not None:
            if tuple(self.latents.shape) != (self.n, dim):
                raise ValueError(f"the given codes are {tuple(self.latents.shape)}; this model takes {self.n} x {dim}")
            z = self.latents.float().cpu()
        else:
            z = torch.randn(self.n, dim, generator=self.generator)
        if truncate and self.truncation is not None:
            z = truncated_codes(z, self.truncation, self.generator)
        return z.to(self.device)

    def generate(self, network: Callable[..., Tensor], dim: int) -> Tensor:
        """``network(z, labels)`` on the request's codes of size ``dim``: the sampling of a
        scheme whose generator maps standard normal codes. A network that defines
        ``truncated(z, psi, labels)`` (a mapping network's own truncation: StyleGAN's pull
        towards the average ``w``) is given the untruncated codes and ``psi`` instead."""
        own = getattr(network, TRUNCATION_METHOD, None)
        if self.truncation is not None and callable(own):
            samples: Tensor = own(self.latent(dim, truncate=False), self.truncation, self.labels)
            return samples
        return network(self.latent(dim), self.labels)

    def source(self, *fields: str) -> list[Tensor]:
        """The first ``n`` items of each named field of ``batch``, on ``device``."""
        if self.batch is None:
            raise ValueError(f"this scheme samples by translating data: it needs a batch with {', '.join(fields)}")
        return [self.batch[f][: self.n].to(self.device) for f in fields]


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


__all__ = [
    "AdversarialLoss",
    "Augment",
    "Batches",
    "Build",
    "Callback",
    "Critic",
    "DataSpec",
    "Dataset",
    "Generator",
    "ImageLoss",
    "INJECTABLE",
    "KINDS",
    "Normalization",
    "Parameters",
    "Regularizer",
    "Scheme",
    "SampleRequest",
    "Slot",
    "side_by_side",
]
