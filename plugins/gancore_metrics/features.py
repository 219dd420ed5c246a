"""Feature spaces for the metrics: a small MNIST classifier, and the identity (for points).

The MNIST network ships its trained weights as package data
(``weights/mnist_features.safetensors``, trained by ``scripts/train_mnist_features.py``),
so nothing is downloaded at run time. Its 128-d penultimate layer is the feature space of
FID/KID/precision-recall on MNIST-like images; its logits drive the classifier score and
the Stacked-MNIST mode count.
"""

from __future__ import annotations

import copy
import threading
from importlib import resources
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

import gancore

WEIGHTS_FILE = "mnist_features.safetensors"
FEATURE_DIM = 128
NUM_CLASSES = 10
IMAGE_SIZE = 28


class MnistNet(nn.Module):
    """Three conv blocks (28 -> 14 -> 7 -> 3) then a 128-d feature layer and 10 logits.

    Inputs are 1 x 28 x 28 in [-1, 1], the scaling generated images use.
    """

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(
            *block(1, 32),
            *block(32, 64),
            *block(64, 64),
            nn.Flatten(),
            nn.Linear(64 * 3 * 3, FEATURE_DIM),
            nn.ReLU(),
        )
        # Dropout acts only while training; in eval mode the head is a plain linear map.
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


# ---------------------------------------------------------------- loading, once per process

_lock = threading.Lock()
_cpu_net: MnistNet | None = None
_per_device: dict[str, MnistNet] = {}


def load_weights() -> dict[str, Tensor]:
    """The shipped state dict, read from package data."""
    from safetensors.torch import load

    data = resources.files(__package__).joinpath("weights", WEIGHTS_FILE).read_bytes()
    return load(data)


def mnist_network(device: torch.device | str = "cpu") -> MnistNet:
    """The trained network, prepared for inference on ``device``; loaded once and cached."""
    global _cpu_net
    key = str(torch.device(device))
    with _lock:
        if _cpu_net is None:
            net = MnistNet()
            net.load_state_dict(load_weights())
            _cpu_net = for_inference(net)
        if key not in _per_device:
            _per_device[key] = _cpu_net if key == "cpu" else copy.deepcopy(_cpu_net).to(device)
        return _per_device[key]


def for_inference(net: MnistNet) -> MnistNet:
    """``net`` in eval mode with each BatchNorm folded into the conv before it.

    The same function as the eval-mode network (up to float rounding); with in-place ReLUs
    and channels-last memory it runs two to three times faster on the CPU.
    """
    net = net.eval().requires_grad_(False)
    layers: list[nn.Module] = []
    for module in net.body:
        if isinstance(module, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            layers[-1] = fuse_conv_bn_eval(layers[-1], module)
        elif isinstance(module, nn.ReLU):
            layers.append(nn.ReLU(inplace=True))
        else:
            layers.append(module)
    # torch's stub lists Module.to overloads without memory_format, which Module.to accepts.
    net.body = nn.Sequential(*layers).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return net.eval().requires_grad_(False)


# ---------------------------------------------------------------- feature extractors


class MnistFeatures(gancore.Features):
    """MNIST classifier features (128-d penultimate layer) and logits."""

    dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, batch_size: int = 1000) -> None:
        self.batch_size = batch_size

    def _prepare(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(
                f"mnist features take N x 1 x H x W images, got shape {tuple(x.shape)}"
                " (for 3-channel Stacked MNIST use the stacked-mnist-modes metric)"
            )
        # uint8 images (read from files) are 0..255; floating ones are in [-1, 1].
        x = x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x.float()
        if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            # Generators for 32 x 32 MNIST are common; bring them to the trained size.
            x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
        return x.contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def _run(self, x: Tensor, with_logits: bool) -> tuple[Tensor, Tensor | None]:
        net = mnist_network(x.device)
        feats, logits = [], []
        for chunk in x.split(self.batch_size):
            f = self.differentiable_features(chunk)
            feats.append(f)
            if with_logits:
                logits.append(net.head(f))
        return torch.cat(feats), (torch.cat(logits) if with_logits else None)

    def features(self, x: Tensor) -> Tensor:
        """N x 128 features of images N x 1 x H x W in [-1, 1]."""
        return self._run(x, with_logits=False)[0]

    def logits(self, x: Tensor) -> Tensor:
        """N x 10 class logits."""
        return self.features_and_logits(x)[1]

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Both at the cost of one pass."""
        feats, logits = self._run(x, with_logits=True)
        assert logits is not None
        return feats, logits

    def differentiable_features(self, x: Tensor) -> Tensor:
        """The features with gradients flowing back to ``x`` (the network stays frozen)."""
        return mnist_network(x.device).body(self._prepare(x))


def mnist_features(
    batch_size: Annotated[int, Field(ge=1, description="images per forward pass (bounds memory)")] = 1000,
) -> MnistFeatures:
    """Penultimate (128-d) features and logits of a small CNN trained on MNIST (99%+ test accuracy)."""
    return MnistFeatures(batch_size)


class IdentityFeatures(gancore.Features):
    """The samples themselves, flattened: the feature space of low-dimensional data."""

    num_classes = None

    def features(self, x: Tensor) -> Tensor:
        # Floating inputs keep their precision (each metric picks its own dtype).
        x = x.flatten(1)
        return x if x.is_floating_point() else x.float()

    def logits(self, x: Tensor) -> Tensor:
        raise NotImplementedError("identity features have no classifier; use the mnist features")

    def differentiable_features(self, x: Tensor) -> Tensor:
        return x.flatten(1)


def _one_channel_images(spec: gancore.DataSpec) -> bool:
    return spec.is_image and spec.shape[0] == 1


mnist_features.supports = _one_channel_images  # type: ignore[attr-defined]


def identity_features() -> IdentityFeatures:
    """The samples themselves, flattened (for 2D points and other low-dimensional data)."""
    return IdentityFeatures()
