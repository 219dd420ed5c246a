"""The Inception-v3 feature space FID is defined with (features ``inception``).

FID (Heusel et al. 2017), KID and the Inception Score are measured in the activations of
the TensorFlow Inception-v3 graph of 2015-12-05: the 2048-d global average pool ("pool3")
for FID and KID, the 1008 logits for the Inception Score. This module builds that network
as pytorch-fid ports it, so that its state dict (``inception_weights``) loads as is.

The port is torchvision's Inception-v3 layout with three differences that the TensorFlow
graph has: 1008 classes; the average pools of the pool branches in Mixed_5b..Mixed_7b leave
the zero padding out of the average (``count_include_pad=False``); and the pool branch of
the last block, Mixed_7c, takes a max pool instead.

Preprocessing follows what the field's tools do with saved image files (see
:func:`to_pixels`, :func:`resize_bilinear`, :func:`resize_clean`).
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

import gancore

from .inception_weights import load_inception_state, weights_path

IMAGE_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
Resize = Literal["bilinear", "clean"]
RESIZE_MODES: tuple[str, ...] = ("bilinear", "clean")


# ---------------------------------------------------------------- the architecture


@dataclass(frozen=True)
class ConvSpec:
    """One conv + BatchNorm + ReLU unit, by its name in the state dict."""

    name: str
    c_in: int
    c_out: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: int | tuple[int, int] = 0


class BasicConv2d(nn.Module):
    """Conv (no bias), BatchNorm (eps 0.001, TensorFlow's) and ReLU: ``NAME.conv.weight``,
    ``NAME.bn.{weight,bias,running_mean,running_var}`` in the state dict."""

    def __init__(self, spec: ConvSpec) -> None:
        super().__init__()
        self.conv = nn.Conv2d(spec.c_in, spec.c_out, spec.kernel, spec.stride, spec.padding, bias=False)
        self.bn = nn.BatchNorm2d(spec.c_out, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))

    def folded(self) -> nn.Sequential:
        """The same function in eval mode as one biased conv and an in-place ReLU."""
        return nn.Sequential(fuse_conv_bn_eval(self.conv.eval(), self.bn.eval()), nn.ReLU(inplace=True))


# A branch of a mixed block: a chain of units applied in turn, then optionally a fork of
# units that each read the chain's output (their outputs are concatenated, in order).
Branch = tuple[tuple[ConvSpec, ...], tuple[ConvSpec, ...]]


@dataclass(frozen=True)
class PoolBranch:
    """The pool branch, always concatenated last: a 3 x 3 pool, then a 1 x 1 unit or none."""

    kind: Literal["avg", "max"]
    stride: int
    conv: ConvSpec | None


class Mixed(nn.Module):
    """An Inception block: parallel branches over the same input, concatenated on channels."""

    def __init__(self, branches: list[Branch], pool: PoolBranch) -> None:
        super().__init__()
        self.branches = [(tuple(s.name for s in chain), tuple(s.name for s in fork)) for chain, fork in branches]
        self.pool = pool
        for chain, fork in branches:
            for spec in (*chain, *fork):
                self.add_module(spec.name, BasicConv2d(spec))
        if pool.conv is not None:
            self.add_module(pool.conv.name, BasicConv2d(pool.conv))

    def forward(self, x: Tensor) -> Tensor:
        units = self._modules
        outputs: list[Tensor] = []
        for chain, fork in self.branches:
            y = x
            for name in chain:
                y = units[name](y)  # type: ignore[misc]
            outputs.extend([units[name](y) for name in fork] if fork else [y])  # type: ignore[misc]
        p = self.pool
        if p.kind == "max":
            pooled = F.max_pool2d(x, 3, stride=p.stride, padding=1 if p.stride == 1 else 0)
        else:
            # TensorFlow's average pool divides by the number of pixels inside the image.
            pooled = F.avg_pool2d(x, 3, stride=p.stride, padding=1, count_include_pad=False)
        outputs.append(units[p.conv.name](pooled) if p.conv is not None else pooled)  # type: ignore[misc]
        return torch.cat(outputs, 1)


def _u(name: str, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
       padding: int | tuple[int, int] = 0) -> ConvSpec:
    return ConvSpec(name, c_in, c_out, kernel, stride, padding)


ROW, COL = (1, 7), (7, 1)  # the factorised 7 x 7 convs of the 17 x 17 blocks, and their paddings
ROW_PAD, COL_PAD = (0, 3), (3, 0)


def block_a(c_in: int, pool_features: int) -> Mixed:
    """35 x 35 block (Mixed_5b/5c/5d): 64 + 64 + 96 + pool_features channels."""
    return Mixed([
        ((_u("branch1x1", c_in, 64, 1),), ()),
        ((_u("branch5x5_1", c_in, 48, 1), _u("branch5x5_2", 48, 64, 5, padding=2)), ()),
        ((_u("branch3x3dbl_1", c_in, 64, 1), _u("branch3x3dbl_2", 64, 96, 3, padding=1),
          _u("branch3x3dbl_3", 96, 96, 3, padding=1)), ()),
    ], PoolBranch("avg", 1, _u("branch_pool", c_in, pool_features, 1)))


def block_b(c_in: int) -> Mixed:
    """35 -> 17 reduction (Mixed_6a): 384 + 96 + c_in channels."""
    return Mixed([
        ((_u("branch3x3", c_in, 384, 3, stride=2),), ()),
        ((_u("branch3x3dbl_1", c_in, 64, 1), _u("branch3x3dbl_2", 64, 96, 3, padding=1),
          _u("branch3x3dbl_3", 96, 96, 3, stride=2)), ()),
    ], PoolBranch("max", 2, None))


def block_c(c_in: int, c7: int) -> Mixed:
    """17 x 17 block with factorised 7 x 7 convs (Mixed_6b..6e): 4 x 192 channels."""
    return Mixed([
        ((_u("branch1x1", c_in, 192, 1),), ()),
        ((_u("branch7x7_1", c_in, c7, 1), _u("branch7x7_2", c7, c7, ROW, padding=ROW_PAD),
          _u("branch7x7_3", c7, 192, COL, padding=COL_PAD)), ()),
        ((_u("branch7x7dbl_1", c_in, c7, 1), _u("branch7x7dbl_2", c7, c7, COL, padding=COL_PAD),
          _u("branch7x7dbl_3", c7, c7, ROW, padding=ROW_PAD), _u("branch7x7dbl_4", c7, c7, COL, padding=COL_PAD),
          _u("branch7x7dbl_5", c7, 192, ROW, padding=ROW_PAD)), ()),
    ], PoolBranch("avg", 1, _u("branch_pool", c_in, 192, 1)))


def block_d(c_in: int) -> Mixed:
    """17 -> 8 reduction (Mixed_7a): 320 + 192 + c_in channels."""
    return Mixed([
        ((_u("branch3x3_1", c_in, 192, 1), _u("branch3x3_2", 192, 320, 3, stride=2)), ()),
        ((_u("branch7x7x3_1", c_in, 192, 1), _u("branch7x7x3_2", 192, 192, ROW, padding=ROW_PAD),
          _u("branch7x7x3_3", 192, 192, COL, padding=COL_PAD), _u("branch7x7x3_4", 192, 192, 3, stride=2)), ()),
    ], PoolBranch("max", 2, None))


def block_e(c_in: int, pool: Literal["avg", "max"]) -> Mixed:
    """8 x 8 block with forked 1 x 3 / 3 x 1 convs (Mixed_7b avg, Mixed_7c max): 2048 channels."""
    return Mixed([
        ((_u("branch1x1", c_in, 320, 1),), ()),
        ((_u("branch3x3_1", c_in, 384, 1),),
         (_u("branch3x3_2a", 384, 384, (1, 3), padding=(0, 1)), _u("branch3x3_2b", 384, 384, (3, 1), padding=(1, 0)))),
        ((_u("branch3x3dbl_1", c_in, 448, 1), _u("branch3x3dbl_2", 448, 384, 3, padding=1)),
         (_u("branch3x3dbl_3a", 384, 384, (1, 3), padding=(0, 1)),
          _u("branch3x3dbl_3b", 384, 384, (3, 1), padding=(1, 0)))),
    ], PoolBranch(pool, 1, _u("branch_pool", c_in, 192, 1)))


STEM = (
    _u("Conv2d_1a_3x3", 3, 32, 3, stride=2),
    _u("Conv2d_2a_3x3", 32, 32, 3),
    _u("Conv2d_2b_3x3", 32, 64, 3, padding=1),
    _u("Conv2d_3b_1x1", 64, 80, 1),
    _u("Conv2d_4a_3x3", 80, 192, 3),
)
_POOL_AFTER = {"Conv2d_2b_3x3", "Conv2d_4a_3x3"}  # a 3 x 3, stride 2 max pool follows these


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3: N x 3 x 299 x 299 in [-1, 1] -> N x 2048 pool3 features;
    ``fc`` (2048 -> 1008) gives the logits."""

    def __init__(self) -> None:
        super().__init__()
        for spec in STEM:
            self.add_module(spec.name, BasicConv2d(spec))
        self.Mixed_5b = block_a(192, 32)
        self.Mixed_5c = block_a(256, 64)
        self.Mixed_5d = block_a(288, 64)
        self.Mixed_6a = block_b(288)
        self.Mixed_6b = block_c(768, 128)
        self.Mixed_6c = block_c(768, 160)
        self.Mixed_6d = block_c(768, 160)
        self.Mixed_6e = block_c(768, 192)
        self.Mixed_7a = block_d(768)
        self.Mixed_7b = block_e(1280, "avg")
        self.Mixed_7c = block_e(2048, "max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        self.memory_format = torch.contiguous_format

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=self.memory_format)
        for spec in STEM:
            x = self._modules[spec.name](x)  # type: ignore[misc]
            if spec.name in _POOL_AFTER:
                x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = self._modules[f"Mixed_{name}"](x)  # type: ignore[misc]
        return x.mean((2, 3))

    def logits(self, pool3: Tensor) -> Tensor:
        """The 1008 logits of pool3 features, WITHOUT the fc bias.

        The Inception Score as its authors computed it (openai/improved-gan) took the
        softmax of ``pool3 @ W``: their graph surgery kept the final matmul and dropped
        the bias add, and torch-fidelity's ``logits_unbiased`` reproduces that; IS values
        comparable with published ones need the same logits.
        """
        return pool3 @ self.fc.weight.T


@functools.cache
def state_shapes() -> dict[str, torch.Size]:
    """Every state-dict key of the network and its shape (built without allocating memory)."""
    with torch.device("meta"):
        net = FIDInceptionV3()
    return {k: v.shape for k, v in net.state_dict().items()}


def build_network(state: dict[str, Tensor]) -> FIDInceptionV3:
    """The network with ``state`` loaded (a checked state dict; ``num_batches_tracked``
    keys may be absent), in eval mode, on the CPU, as defined: no folding."""
    with torch.device("meta"):
        net = FIDInceptionV3()
    full = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    for key in state_shapes():
        if key.endswith("num_batches_tracked") and key not in full:
            full[key] = torch.zeros((), dtype=torch.long)
    net.load_state_dict(full, assign=True)
    return net.eval().requires_grad_(False)


def for_inference(net: FIDInceptionV3, channels_last: bool = True) -> FIDInceptionV3:
    """``net`` with each BatchNorm folded into the conv before it (in place) and, with
    ``channels_last``, its convs in channels-last memory: the same function up to float
    rounding, faster on the CPU (benchmarks/inception_speed.py)."""
    net = net.eval().requires_grad_(False)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BasicConv2d):
                setattr(parent, name, child.folded())
    if channels_last:
        # torch's stub lists Module.to overloads without memory_format, which Module.to accepts.
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        net.memory_format = torch.channels_last
    return net.eval().requires_grad_(False)


# ---------------------------------------------------------------- loading, once per process

_lock = threading.Lock()
_cpu: dict[tuple[str, int, int], FIDInceptionV3] = {}
_per_device: dict[tuple[str, int, int, str], FIDInceptionV3] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


def inception_network(path: str | Path, device: torch.device | str = "cpu") -> FIDInceptionV3:
    """The network with the weights in ``path``, prepared for inference on ``device``;
    loaded once per file (path, size, modification time) and device in a process."""
    path = Path(path).resolve()
    key = _file_key(path)
    dev = str(torch.device(device))
    with _lock:
        if key not in _cpu:
            _cpu[key] = for_inference(build_network(load_inception_state(path)))
        if (*key, dev) not in _per_device:
            _per_device[(*key, dev)] = _cpu[key] if dev == "cpu" else copy.deepcopy(_cpu[key]).to(dev)
        return _per_device[(*key, dev)]


# ---------------------------------------------------------------- preprocessing


def to_pixels(x: Tensor) -> Tensor:
    """Images N x C x H x W (C 1 or 3) as float32 8-bit levels, 0..255, on ``x``'s device.

    uint8 tensors are taken as they are. Floating tensors are gancore's convention, [-1, 1],
    and are rounded to the 256 levels an image file holds (``((x + 1) * 127.5).round()``,
    clamped): the field's tools compute FID on saved PNGs, so features of the same images
    agree with theirs whether the images come as tensors or as files.
    """
    check_images(x)
    if x.dtype == torch.uint8:
        return x.float()
    return ((x.float() + 1) * 127.5).round().clamp(0, 255)


def check_images(x: Tensor) -> None:
    """A ``ValueError`` unless ``x`` is N x C x H x W, C 1 or 3, uint8 or floating."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"inception features take N x C x H x W images with C 1 or 3, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ValueError(f"inception features take uint8 images (0..255) or floating ones ([-1, 1]), got {x.dtype}")


def resize_bilinear(pixels: Tensor) -> Tensor:
    """pytorch-fid's input path (``InceptionV3(resize_input=True, normalize_input=True)``):
    levels / 255 in [0, 1], bilinear resize to 299 x 299 (``align_corners=False``, no
    antialias), then ``2x - 1``. At 299 x 299 already the resize is the identity."""
    x = F.interpolate(pixels / 255, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def resize_clean(pixels: Tensor) -> Tensor:
    """clean-fid's resize (Parmar et al. 2022): each channel of each image, as a float PIL
    image of its 8-bit levels, resized with PIL's antialiased bicubic filter to 299 x 299
    and clipped to 0..255; then / 255 and ``2x - 1``. Runs on the CPU (one copy to the host
    per batch); the result goes back to ``pixels``' device."""
    from PIL import Image

    n, c = pixels.shape[:2]
    host = pixels.detach().to("cpu", torch.float32).numpy()
    out = np.empty((n, c, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for i in range(n):
        for j in range(c):
            image = Image.fromarray(np.ascontiguousarray(host[i, j]))  # float32 -> mode "F"
            out[i, j] = np.asarray(image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC))
    x = torch.from_numpy(out).clamp_(0, 255).to(pixels.device)
    return 2 * (x / 255) - 1


RESIZERS = {"bilinear": resize_bilinear, "clean": resize_clean}


def preprocess(x: Tensor, resize: Resize = "bilinear") -> Tensor:
    """Images (see :func:`to_pixels`) as the network's N x 3 x 299 x 299 input in [-1, 1].
    One-channel images are repeated to three channels (after resizing: the same result)."""
    x = RESIZERS[resize](to_pixels(x))
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


# ---------------------------------------------------------------- the feature part


class InceptionFeatures(gancore.Features):
    """pool3 features (2048-d) and unbiased logits (1008) of the FID Inception-v3.

    The weights file is found (and downloaded if need be) and loaded at the first call
    that needs it, so building this part to validate a recipe touches no file.
    """

    dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, weights: str | None = None, resize: Resize = "bilinear", batch_size: int = 100) -> None:
        if resize not in RESIZERS:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, not {resize!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.weights, self.resize, self.batch_size = weights, resize, batch_size
        self._path: Path | None = None

    @property
    def weights_file(self) -> Path:
        """The resolved weights file (found, or downloaded, on first use)."""
        if self._path is None:
            self._path = weights_path(self.weights)
        return self._path

    @property
    def cache_key(self) -> tuple[str, str, int, int, str]:
        """Identifies the feature space: features computed under equal keys are the same."""
        path = self.weights_file
        st = path.stat()
        return ("inception", str(path), st.st_size, st.st_mtime_ns, self.resize)

    def describe(self) -> dict[str, str]:
        """What a statistics file records about the features it was computed in."""
        return {"features": "inception", "resize": self.resize, "weights": self.weights_file.name}

    @torch.no_grad()
    def _run(self, x: Tensor, want_features: bool, want_logits: bool) -> tuple[Tensor, Tensor]:
        check_images(x)
        net = inception_network(self.weights_file, x.device)
        feats = [x.new_zeros((0, FEATURE_DIM), dtype=torch.float32)]
        logits = [x.new_zeros((0, NUM_CLASSES), dtype=torch.float32)]
        for chunk in x.split(self.batch_size) if len(x) else ():
            pool3 = net(preprocess(chunk, self.resize))
            if want_features:
                feats.append(pool3)
            if want_logits:
                logits.append(net.logits(pool3))
        return torch.cat(feats), torch.cat(logits)

    def features(self, x: Tensor) -> Tensor:
        """N x 2048 pool3 features of images N x C x H x W (uint8 0..255 or floating [-1, 1])."""
        return self._run(x, True, False)[0]

    def logits(self, x: Tensor) -> Tensor:
        """N x 1008 logits without the fc bias (the Inception Score's)."""
        return self._run(x, False, True)[1]

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Both at the cost of one pass."""
        return self._run(x, True, True)


def inception_features(
    weights: Annotated[str | None, Field(description=(
        "the weights file (pytorch-fid's pt_inception-2015-12-05-6726825d.pth); by default "
        "GANCORE_INCEPTION_WEIGHTS, else the cached download"))] = None,
    resize: Annotated[Resize, Field(description=(
        "bilinear: pytorch-fid's resize to 299 x 299; clean: clean-fid's antialiased PIL bicubic"))] = "bilinear",
    batch_size: Annotated[int, Field(ge=1, description="images per forward pass (bounds memory)")] = 100,
) -> InceptionFeatures:
    """pool3 (2048-d) features and logits of the FID Inception-v3 (TF 2015-12-05, pytorch-fid's port)."""
    return InceptionFeatures(weights, resize, batch_size)


inception_features.supports = lambda spec: spec.is_image  # type: ignore[attr-defined]
