"""Adam, AdamW, RMSprop and SGD from ``torch.optim``, as parts of kind ``optimizer``.

Their parameters are the recipe's optimizer keys, with the recipe's defaults and bounds
(docs/recipes.md), so a recipe means what it meant before optimizers were parts: each
optimizer reads the keys it has and ignores the others (Adam ignores ``momentum``).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

import gancore

from .kernels import WITH_FUSED, WITHOUT_FUSED, WithFused, WithoutFused, available_for, described, kernel_options

LearningRate = Annotated[float, Field(gt=0, le=1e6, description="learning rate")]
Beta = Annotated[float, Field(ge=0, lt=1)]
Betas = Annotated[tuple[Beta, Beta], Field(description="coefficients of the running averages of the gradient and its square")]
WeightDecay = Annotated[float, Field(ge=0, le=1e6, description="weight decay")]
Eps = Annotated[float, Field(gt=0, le=1, description="added to the denominator, for stability")]
Momentum = Annotated[float, Field(ge=0, le=1e6, description="momentum factor")]
AdamKernels = Annotated[WithFused, available_for("adam", WITH_FUSED), described(WITH_FUSED)]
AdamWKernels = Annotated[WithFused, available_for("adamw", WITH_FUSED), described(WITH_FUSED)]
RMSpropKernels = Annotated[WithoutFused, available_for("rmsprop", WITHOUT_FUSED), described(WITHOUT_FUSED)]
SGDKernels = Annotated[WithFused, available_for("sgd", WITH_FUSED), described(WITH_FUSED)]


def adam(
    parameters: gancore.Parameters,
    lr: LearningRate = 2e-4,
    betas: Betas = (0.5, 0.999),
    eps: Eps = 1e-8,
    weight_decay: WeightDecay = 0.0,
    implementation: AdamKernels = "default",
) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015), with DCGAN's beta1 of 0.5 by default."""
    return torch.optim.Adam(parameters, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                            **kernel_options(implementation))


def adamw(
    parameters: gancore.Parameters,
    lr: LearningRate = 2e-4,
    betas: Betas = (0.5, 0.999),
    eps: Eps = 1e-8,
    weight_decay: Annotated[float, Field(ge=0, le=1e6, description="decoupled weight decay")] = 0.0,
    implementation: AdamWKernels = "default",
) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""
    return torch.optim.AdamW(parameters, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                             **kernel_options(implementation))


def rmsprop(
    parameters: gancore.Parameters,
    lr: LearningRate = 2e-4,
    eps: Eps = 1e-8,
    weight_decay: WeightDecay = 0.0,
    momentum: Momentum = 0.0,
    implementation: RMSpropKernels = "default",
) -> torch.optim.Optimizer:
    """RMSprop (Tieleman & Hinton 2012), as WGAN trains with it."""
    return torch.optim.RMSprop(parameters, lr=lr, eps=eps, weight_decay=weight_decay, momentum=momentum,
                               **kernel_options(implementation))


def sgd(
    parameters: gancore.Parameters,
    lr: LearningRate = 2e-4,
    momentum: Momentum = 0.0,
    weight_decay: WeightDecay = 0.0,
    implementation: SGDKernels = "default",
) -> torch.optim.Optimizer:
    """Stochastic gradient descent, with optional momentum."""
    return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           **kernel_options(implementation))
