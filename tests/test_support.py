"""_gancore_support, the helpers the first-party plugins share: what the plugins rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from _gancore_support.encoder_decoder import SkipEncoderDecoder
from _gancore_support.layers import LayerMaker
from _gancore_support.recipes import register_recipe_folder


def test_normed_drops_the_bias_only_where_the_norm_shifts():
    conv, norm = LayerMaker("batch").normed(nn.Conv2d, 3, 8, 3)
    assert conv.bias is None and isinstance(norm, nn.BatchNorm2d) and norm.num_features == 8
    linear, identity = LayerMaker("none").normed(nn.Linear, 3, 8, spatial=False)
    assert linear.bias is not None and isinstance(identity, nn.Identity)


def test_normed_initialises_and_wraps_like_weighted():
    conv, norm = LayerMaker("spectral", "dcgan").normed(nn.ConvTranspose2d, 16, 32, 4, 2, 1)
    assert hasattr(conv, "parametrizations") and conv.bias is not None  # spectral norm adds no module after
    assert conv.parametrizations.weight.original.std().item() == pytest.approx(0.02, rel=0.1)


@pytest.mark.parametrize("bottleneck", [0, 12])
def test_the_skip_encoder_decoder_gives_features_at_the_input_size(bottleneck):
    # 7 -> 3 -> 1 and back: the nearest upsampling to each skip's size restores odd sides.
    net = SkipEncoderDecoder(LayerMaker("batch"), 2, 4, 2, (7, 7), bottleneck=bottleneck)
    assert (net.bottleneck is None) == (bottleneck == 0)
    assert net(torch.randn(3, 2, 7, 7)).shape == (3, 4, 7, 7)


def test_a_recipe_folder_registers_its_toml_files_in_name_order():
    registered = []
    register_recipe_folder(lambda name, path: registered.append((name, path)), "gancore_translation")
    folder = Path(__file__).resolve().parents[1] / "plugins" / "gancore_translation" / "recipes"
    assert [name for name, _ in registered] == sorted(p.stem for p in folder.glob("*.toml"))
    assert all(str(path).endswith(f"{name}.toml") for name, path in registered)
