"""An independent reference for the FID Inception-v3: the network written as plain
functions of the state dict (``F.conv2d`` then ``F.batch_norm`` in eval form, NCHW, no
folding, no modules), with pytorch-fid's input path, to check gancore's inference build
against; and ``write_weights``, a random state dict in the published file's key layout.

The architecture is transcribed from the published description of the port (torchvision's
Inception-v3 with 1008 classes, TensorFlow's average pools that leave padding out of the
count, and a max pool in the pool branch of Mixed_7c), independently of gancore's code.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

State = dict[str, Tensor]


# ---------------------------------------------------------------- the layout


def _layout() -> dict[str, tuple[int, int, int, int]]:
    """Every conv unit: name -> (out channels, in channels, kernel height, kernel width)."""
    units: dict[str, tuple[int, int, int, int]] = {}

    def add(name: str, c_out: int, c_in: int, kh: int, kw: int | None = None) -> None:
        units[name] = (c_out, c_in, kh, kh if kw is None else kw)

    add("Conv2d_1a_3x3", 32, 3, 3)
    add("Conv2d_2a_3x3", 32, 32, 3)
    add("Conv2d_2b_3x3", 64, 32, 3)
    add("Conv2d_3b_1x1", 80, 64, 1)
    add("Conv2d_4a_3x3", 192, 80, 3)
    for block, c_in, pool_c in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        add(f"{block}.branch1x1", 64, c_in, 1)
        add(f"{block}.branch5x5_1", 48, c_in, 1)
        add(f"{block}.branch5x5_2", 64, 48, 5)
        add(f"{block}.branch3x3dbl_1", 64, c_in, 1)
        add(f"{block}.branch3x3dbl_2", 96, 64, 3)
        add(f"{block}.branch3x3dbl_3", 96, 96, 3)
        add(f"{block}.branch_pool", pool_c, c_in, 1)
    add("Mixed_6a.branch3x3", 384, 288, 3)
    add("Mixed_6a.branch3x3dbl_1", 64, 288, 1)
    add("Mixed_6a.branch3x3dbl_2", 96, 64, 3)
    add("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
    for block, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        add(f"{block}.branch1x1", 192, 768, 1)
        add(f"{block}.branch7x7_1", c7, 768, 1)
        add(f"{block}.branch7x7_2", c7, c7, 1, 7)
        add(f"{block}.branch7x7_3", 192, c7, 7, 1)
        add(f"{block}.branch7x7dbl_1", c7, 768, 1)
        add(f"{block}.branch7x7dbl_2", c7, c7, 7, 1)
        add(f"{block}.branch7x7dbl_3", c7, c7, 1, 7)
        add(f"{block}.branch7x7dbl_4", c7, c7, 7, 1)
        add(f"{block}.branch7x7dbl_5", 192, c7, 1, 7)
        add(f"{block}.branch_pool", 192, 768, 1)
    add("Mixed_7a.branch3x3_1", 192, 768, 1)
    add("Mixed_7a.branch3x3_2", 320, 192, 3)
    add("Mixed_7a.branch7x7x3_1", 192, 768, 1)
    add("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
    add("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
    add("Mixed_7a.branch7x7x3_4", 192, 192, 3)
    for block, c_in in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        add(f"{block}.branch1x1", 320, c_in, 1)
        add(f"{block}.branch3x3_1", 384, c_in, 1)
        add(f"{block}.branch3x3_2a", 384, 384, 1, 3)
        add(f"{block}.branch3x3_2b", 384, 384, 3, 1)
        add(f"{block}.branch3x3dbl_1", 448, c_in, 1)
        add(f"{block}.branch3x3dbl_2", 384, 448, 3)
        add(f"{block}.branch3x3dbl_3a", 384, 384, 1, 3)
        add(f"{block}.branch3x3dbl_3b", 384, 384, 3, 1)
        add(f"{block}.branch_pool", 192, c_in, 1)
    return units


UNITS = _layout()


def write_weights(path: Path, seed: int = 0, num_batches_tracked: bool = True) -> Path:
    """A random state dict in the published key layout, saved with ``torch.save``.

    Conv weights are He-initialised (N(0, 2 / fan_in)) and the BatchNorms near the identity,
    so activations stay of order one through all 94 units and the features are not all zero.
    """
    g = torch.Generator().manual_seed(seed)

    def normal(*shape: int, std: float) -> Tensor:
        return torch.randn(*shape, generator=g) * std

    state: State = {}
    for name, (c_out, c_in, kh, kw) in UNITS.items():
        state[f"{name}.conv.weight"] = normal(c_out, c_in, kh, kw, std=(2.0 / (c_in * kh * kw)) ** 0.5)
        state[f"{name}.bn.weight"] = 1 + normal(c_out, std=0.1)
        state[f"{name}.bn.bias"] = normal(c_out, std=0.1)
        state[f"{name}.bn.running_mean"] = normal(c_out, std=0.1)
        state[f"{name}.bn.running_var"] = 0.5 + torch.rand(c_out, generator=g)
        if num_batches_tracked:
            state[f"{name}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    state["fc.weight"] = normal(1008, 2048, std=2048 ** -0.5)
    state["fc.bias"] = normal(1008, std=0.5)
    path = Path(path)
    torch.save(state, path)
    return path


# ---------------------------------------------------------------- the network as functions


def _unit(s: State, name: str, x: Tensor, stride: int = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    y = F.conv2d(x, s[f"{name}.conv.weight"], None, stride, padding)
    y = F.batch_norm(y, s[f"{name}.bn.running_mean"], s[f"{name}.bn.running_var"], s[f"{name}.bn.weight"],
                     s[f"{name}.bn.bias"], training=False, eps=0.001)
    return F.relu(y)


def _tf_avg_pool(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _mixed_a(s: State, b: str, x: Tensor) -> Tensor:
    one = _unit(s, f"{b}.branch1x1", x)
    five = _unit(s, f"{b}.branch5x5_2", _unit(s, f"{b}.branch5x5_1", x), padding=2)
    dbl = _unit(s, f"{b}.branch3x3dbl_1", x)
    dbl = _unit(s, f"{b}.branch3x3dbl_2", dbl, padding=1)
    dbl = _unit(s, f"{b}.branch3x3dbl_3", dbl, padding=1)
    pool = _unit(s, f"{b}.branch_pool", _tf_avg_pool(x))
    return torch.cat([one, five, dbl, pool], dim=1)


def _mixed_b(s: State, b: str, x: Tensor) -> Tensor:
    three = _unit(s, f"{b}.branch3x3", x, stride=2)
    dbl = _unit(s, f"{b}.branch3x3dbl_1", x)
    dbl = _unit(s, f"{b}.branch3x3dbl_2", dbl, padding=1)
    dbl = _unit(s, f"{b}.branch3x3dbl_3", dbl, stride=2)
    return torch.cat([three, dbl, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


def _mixed_c(s: State, b: str, x: Tensor) -> Tensor:
    one = _unit(s, f"{b}.branch1x1", x)
    seven = _unit(s, f"{b}.branch7x7_1", x)
    seven = _unit(s, f"{b}.branch7x7_2", seven, padding=(0, 3))
    seven = _unit(s, f"{b}.branch7x7_3", seven, padding=(3, 0))
    dbl = _unit(s, f"{b}.branch7x7dbl_1", x)
    dbl = _unit(s, f"{b}.branch7x7dbl_2", dbl, padding=(3, 0))
    dbl = _unit(s, f"{b}.branch7x7dbl_3", dbl, padding=(0, 3))
    dbl = _unit(s, f"{b}.branch7x7dbl_4", dbl, padding=(3, 0))
    dbl = _unit(s, f"{b}.branch7x7dbl_5", dbl, padding=(0, 3))
    pool = _unit(s, f"{b}.branch_pool", _tf_avg_pool(x))
    return torch.cat([one, seven, dbl, pool], dim=1)


def _mixed_d(s: State, b: str, x: Tensor) -> Tensor:
    three = _unit(s, f"{b}.branch3x3_2", _unit(s, f"{b}.branch3x3_1", x), stride=2)
    seven = _unit(s, f"{b}.branch7x7x3_1", x)
    seven = _unit(s, f"{b}.branch7x7x3_2", seven, padding=(0, 3))
    seven = _unit(s, f"{b}.branch7x7x3_3", seven, padding=(3, 0))
    seven = _unit(s, f"{b}.branch7x7x3_4", seven, stride=2)
    return torch.cat([three, seven, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


def _mixed_e(s: State, b: str, x: Tensor, max_pool: bool) -> Tensor:
    one = _unit(s, f"{b}.branch1x1", x)
    t = _unit(s, f"{b}.branch3x3_1", x)
    three = torch.cat([_unit(s, f"{b}.branch3x3_2a", t, padding=(0, 1)),
                       _unit(s, f"{b}.branch3x3_2b", t, padding=(1, 0))], dim=1)
    d = _unit(s, f"{b}.branch3x3dbl_2", _unit(s, f"{b}.branch3x3dbl_1", x), padding=1)
    dbl = torch.cat([_unit(s, f"{b}.branch3x3dbl_3a", d, padding=(0, 1)),
                     _unit(s, f"{b}.branch3x3dbl_3b", d, padding=(1, 0))], dim=1)
    pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if max_pool else _tf_avg_pool(x)
    return torch.cat([one, three, dbl, _unit(s, f"{b}.branch_pool", pooled)], dim=1)


def network(s: State, x: Tensor) -> tuple[Tensor, Tensor]:
    """(pool3 N x 2048, unbiased logits N x 1008) of the network input N x 3 x 299 x 299 in [-1, 1]."""
    x = _unit(s, "Conv2d_1a_3x3", x, stride=2)
    x = _unit(s, "Conv2d_2a_3x3", x)
    x = _unit(s, "Conv2d_2b_3x3", x, padding=1)
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = _unit(s, "Conv2d_3b_1x1", x)
    x = _unit(s, "Conv2d_4a_3x3", x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for b in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        x = _mixed_a(s, b, x)
    x = _mixed_b(s, "Mixed_6a", x)
    for b in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
        x = _mixed_c(s, b, x)
    x = _mixed_d(s, "Mixed_7a", x)
    x = _mixed_e(s, "Mixed_7b", x, max_pool=False)
    x = _mixed_e(s, "Mixed_7c", x, max_pool=True)
    pool3 = F.adaptive_avg_pool2d(x, output_size=(1, 1)).flatten(1)
    return pool3, F.linear(pool3, s["fc.weight"])


def pytorch_fid_input(images01: Tensor) -> Tensor:
    """pytorch-fid's InceptionV3(resize_input=True, normalize_input=True) input path, for
    RGB images in [0, 1]: bilinear to 299 x 299, then scaled to [-1, 1]."""
    x = F.interpolate(images01, size=(299, 299), mode="bilinear", align_corners=False)
    return 2 * x - 1


def load_state(path: Path) -> State:
    state: State = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() for k, v in state.items() if not k.endswith("num_batches_tracked")}


@torch.no_grad()
def reference(state: State, images: Tensor, batch_size: int = 8) -> tuple[Tensor, Tensor]:
    """pool3 and unbiased logits of uint8 images N x C x H x W (C 1 or 3, 1 read as gray:
    the same level in R, G and B), the way pytorch-fid sees the image files."""
    assert images.dtype == torch.uint8
    rgb = images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images
    outs = [network(state, pytorch_fid_input(chunk.float() / 255)) for chunk in rgb.split(batch_size)]
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
