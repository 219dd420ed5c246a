"""EMA by half-life (StyleGAN's ema_kimg, with its ramp-up), held to the closed form, and
exact on resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore
from gancore import GancoreError
from gancore._ema import averaged_copy, half_life_decay


def test_the_decay_halves_an_old_weight_after_half_life_images():
    # 10 kimg at 64 images per update: 10000 / 64 updates make 0.5.
    d = half_life_decay(10.0, None, 64, images=10**6)
    assert d ** (10_000 / 64) == pytest.approx(0.5)
    # The ramp-up caps the half-life at rampup x images: early on it is short.
    assert half_life_decay(10.0, 0.05, 64, images=6400) == pytest.approx(0.5 ** (64 / 320))
    assert half_life_decay(10.0, 0.05, 64, images=10**7) == pytest.approx(d)


@pytest.mark.parametrize("rampup", [None, 0.05])
def test_the_average_is_the_closed_form_over_a_run(rampup):
    net = nn.Linear(1, 1, bias=False)
    batch, start, values = 32, 3, [0.5, -1.0, 2.0, 0.25, 3.0, -0.5, 1.5]
    avg = averaged_copy(net, 0.0, half_life=0.1, rampup=rampup, batch_size=batch, start=start)
    expected = None
    for n, v in enumerate(values):
        with torch.no_grad():
            net.weight.fill_(v)
        avg.update_parameters(net)
        if expected is None:
            expected = v  # the first update copies
        else:
            images = (start + n + 1) * batch  # the update after training step start + n + 1
            h = 100.0 if rampup is None else min(100.0, rampup * images)
            d = 0.5 ** (batch / h)
            expected = d * expected + (1 - d) * v
        assert float(avg.module.weight) == pytest.approx(expected, rel=1e-6)


TINY = {"train.steps": 6, "train.log_every": 3, "train.sample_every": 0, "train.checkpoint_every": 0,
        "train.device": "cpu", "ema.half_life": 0.05, "ema.rampup": 0.1}


def test_a_run_with_a_half_life_resumes_exactly(tmp_path):
    straight = gancore.create_run("gan-ring", overrides=TINY, out=tmp_path / "straight").train()
    gancore.create_run("gan-ring", overrides=TINY | {"train.steps": 3}, out=tmp_path / "half").train()
    resumed = gancore.load_run(tmp_path / "half", overrides=["train.steps=6"]).train()
    a, b = straight.ema["generator"].state_dict(), resumed.ema["generator"].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    live = straight.scheme.generator.state_dict()
    assert any(not torch.equal(a[f"module.{k}"], v) for k, v in live.items())  # an average, not a copy


@pytest.mark.parametrize("overrides, message", [
    ({"ema.decay": 0.99, "ema.half_life": 10.0}, "ema.decay or ema.half_life, not both"),
    ({"ema.rampup": 0.05}, "ema.rampup goes with ema.half_life"),
    ({"ema.half_life": 0.0}, "ema.half_life"),
])
def test_contradicting_ema_settings_are_refused(overrides, message):
    with pytest.raises(GancoreError, match=message):
        gancore.create_run("gan-ring", overrides={"train.steps": 2, "train.device": "cpu"} | overrides)
