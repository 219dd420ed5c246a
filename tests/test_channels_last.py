"""train.channels_last: the networks' 4-D weights and the image batches in channels-last
memory format. The same training to float rounding, exact resume, checkpoints that load
in either format, and no change at all to data without images."""

from __future__ import annotations

import pytest
import torch

import gancore
from gancore._batches import DeviceBatches, StreamedBatches
from gancore._run import Run

CL = torch.channels_last
RECIPE = {"generator": {"name": "dcgan", "latent_dim": 8, "width": 8, "norm": "batch"},
          "critic": {"name": "dcgan", "width": 8, "norm": "layer"}, "loss": "hinge",
          "ema": {"decay": 0.9},
          "train": {"steps": 20, "batch_size": 8, "log_every": 5, "sample_every": 0, "checkpoint_every": 10,
                    "device": "cpu"}}
# A gradient penalty differentiates the critic twice, through channels-last activations too.
PENALISED = {"scheme.n_critic": 2, "regularizers": [{"name": "gradient-penalty", "weight": 1.0}]}


def colour_images(n: int = 48) -> gancore.Dataset:
    """uint8 3 x 8 x 8 images: three channels, so that the two formats differ in memory."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
    return gancore.Dataset({"x": x, "label": torch.arange(n) % 2}, num_classes=2)


def create(out=None, on: bool = True, **overrides) -> Run:
    return gancore.create_run(RECIPE, data=colour_images(), out=out, overrides={"train.channels_last": on} | overrides)


def four_d(run: Run) -> dict[str, torch.Tensor]:
    """The 4-D parameters and buffers of the scheme and its EMA copies."""
    tensors = {f"scheme.{k}": v for k, v in run.scheme.state_dict(keep_vars=True).items()}
    for name, avg in run.ema.items():
        tensors |= {f"ema.{name}.{k}": v for k, v in avg.state_dict(keep_vars=True).items()}
    return {k: v for k, v in tensors.items() if v.dim() == 4}


def values(run: Run) -> dict[str, torch.Tensor]:
    out = {f"scheme.{k}": v for k, v in run.scheme.state_dict().items()}
    for name, avg in run.ema.items():
        out |= {f"ema.{name}.{k}": v for k, v in avg.state_dict().items()}
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)
        else:
            assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
def test_weights_and_image_batches_take_the_format_asked_for(on):
    run = create(on=on)
    weights = four_d(run)
    assert {k.split(".")[1] for k in weights} == {"generator", "critic"}  # the networks and the EMA copy
    assert any(k.startswith("ema.") for k in weights)
    for k, w in weights.items():
        assert w.is_contiguous(memory_format=CL if on else torch.contiguous_format), k
        assert w.is_contiguous() != on or w.shape[1] == 1, k  # with one input channel both formats hold
    for p in run.scheme.parameters():
        if p.dim() != 4:
            assert p.is_contiguous()
    batch = run.batches.next()
    assert batch["x"].is_contiguous(memory_format=CL if on else torch.contiguous_format)
    assert batch["x"].is_contiguous() != on
    assert batch["label"].dim() == 1 and batch["label"].is_contiguous()
    if on:  # the optimizer's state follows its parameters
        run.train(1)
        state = [s["exp_avg"] for o in run.optimizers.values() for s in o.state.values() if s["exp_avg"].dim() == 4]
        assert state and all(s.is_contiguous(memory_format=CL) for s in state)
    sample = run.sample(4)
    assert sample.shape == (4, 3, 8, 8) and sample.is_contiguous()  # the ordinary layout, whatever the setting


def test_one_channel_weights_and_batches_have_channels_last_strides():
    """A tensor with one channel is contiguous in both formats; PyTorch reads its format from
    its strides, so they must say channels-last (else a grey-image critic's first convolution
    runs in the ordinary format, between channels-last ones)."""
    x = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)
    run = gancore.create_run(RECIPE, data=gancore.Dataset({"x": x}), overrides={"train.channels_last": True})
    first = run.scheme.critic.input[0].weight
    assert first.shape[1] == 1 and first.stride()[1] == 1
    assert run.batches.next()["x"].stride()[1] == 1


def test_streamed_batches_are_the_device_batches_in_the_format_asked_for():
    x = colour_images(40).tensors["x"]
    plain = DeviceBatches({"x": x}, 8, seed=5)
    device = DeviceBatches({"x": x}, 8, seed=5, channels_last=True)
    streamed = StreamedBatches({"x": x}, 8, seed=5, workers=2, ahead=3, channels_last=True)
    try:
        for _ in range(7):  # across an epoch
            a, b, c = plain.next()["x"], device.next()["x"], streamed.next()["x"]
            assert torch.equal(a, b) and torch.equal(a, c)
            assert a.is_contiguous() and b.is_contiguous(memory_format=CL) and c.is_contiguous(memory_format=CL)
            assert not b.is_contiguous() and not c.is_contiguous()
        assert streamed.peek(3)["x"].is_contiguous(memory_format=CL)
        assert device.peek(3)["x"].is_contiguous(memory_format=CL)
    finally:
        streamed.close()


def test_a_run_in_channels_last_trains_as_one_without_it_to_float_rounding():
    on = create(on=True, **PENALISED, **{"train.steps": 6}).train()
    off = create(on=False, **PENALISED, **{"train.steps": 6}).train()
    assert_close(values(on), values(off))
    torch.testing.assert_close(on.sample(8), off.sample(8), rtol=1e-3, atol=1e-4)


def test_resume_in_channels_last_is_exact(tmp_path):
    straight = create(tmp_path / "straight", **PENALISED).train()
    half = create(tmp_path / "half", **PENALISED, **{"train.steps": 10}).train()
    resumed = Run.load(tmp_path / "half", overrides=["train.steps=20"], data=colour_images())
    assert resumed.recipe.train.channels_last and resumed.step == 10
    assert all(w.is_contiguous(memory_format=CL) for w in four_d(resumed).values())
    resumed.train()
    assert_same(values(straight), values(resumed))


@pytest.mark.parametrize("first, then", [(True, False), (False, True)], ids=["on-then-off", "off-then-on"])
def test_a_checkpoint_loads_and_trains_on_in_the_other_format(tmp_path, first, then):
    written = create(tmp_path / "run", on=first, **{"train.steps": 10}).train()
    saved = torch.load(tmp_path / "run" / "checkpoints" / "step-0000010.pt", map_location="cpu", weights_only=True)
    conv = saved["scheme"]["critic.input.0.weight"]
    assert conv.is_contiguous(memory_format=CL if first else torch.contiguous_format)  # as it was: strided tensors

    loaded = Run.load(tmp_path / "run", overrides=[f"train.channels_last={str(then).lower()}", "train.steps=20"],
                      data=colour_images())
    assert loaded.recipe.train.channels_last is then
    assert_same(values(written), values(loaded))  # the same values ...
    for k, w in four_d(loaded).items():  # ... in the loading run's format
        assert w.is_contiguous(memory_format=CL if then else torch.contiguous_format), k
    loaded.train()
    straight = create(tmp_path / "straight", on=first).train()
    assert_close(values(straight), values(loaded))
    assert loaded.sample(4).is_contiguous()


# data.root: a folder of one's own images, or CIFAR-10's archive, which tests cannot download; their
# networks train in channels-last in sngan-mnist and test_r3gan_networks_train_in_channels_last_as_without_it
NEEDS_FILES = {"sngan-images", "r3gan-images", "r3gan-cifar10"}


@pytest.mark.parametrize("name", sorted(set(gancore.registry().recipes) - NEEDS_FILES))
def test_every_built_in_image_recipe_trains_and_samples_in_channels_last(name):
    """Each first-party network in the format: nothing of theirs needs the ordinary one
    (a ``view`` of an activation, a 5-D video batch beside 4-D weights, packing, twin domains)."""
    run = gancore.create_run(name, overrides={"train.steps": 2, "train.device": "cpu", "train.log_every": 1,
                                              "train.batch_size": 16, "train.channels_last": True})
    if len(run.spec.shape) < 3:
        pytest.skip("points: nothing to convert (test_points_are_left_as_they_are)")
    assert all(w.is_contiguous(memory_format=CL) for w in four_d(run).values())  # none for MLPs on images
    run.train()
    sample = run.sample(4)
    assert sample.is_contiguous() and torch.isfinite(sample).all()


def test_r3gan_networks_train_in_channels_last_as_without_it():
    """Grouped and depthwise convolutions, the low-pass resampling: R3GAN's networks, where
    the format measured a win on the CPU (docs/benchmarks.md), on R3GAN's objective. With
    SGD: the branches' last layers start at zero, and Adam's first step would turn float
    rounding in their near-zero gradients into steps of the whole learning rate."""
    overrides = {"train.device": "cpu", "train.steps": 3, "train.batch_size": 8, "data.limit": 64, "ema.decay": 0.9,
                 "generator": {"name": "r3gan"}, "critic": {"name": "r3gan"}, "loss": {"name": "rpgan"},
                 "regularizers": [{"name": "r1", "weight": 0.05}, {"name": "r2", "weight": 0.05}],
                 "optim": {"name": "sgd", "lr": 0.01}}
    on = gancore.create_run("dcgan-mnist", overrides=overrides | {"train.channels_last": True})
    assert four_d(on) and all(w.is_contiguous(memory_format=CL) for w in four_d(on).values())
    on.train()
    off = gancore.create_run("dcgan-mnist", overrides=overrides).train()
    assert_close(values(on), values(off))


def test_points_are_left_as_they_are(tiny_ring):
    """Data without images and networks without 4-D weights: the setting changes nothing."""
    overrides = {"train.steps": 10, "train.checkpoint_every": 0}
    on = gancore.create_run(tiny_ring, overrides=overrides | {"train.channels_last": True})
    assert not four_d(on)
    on.train()
    assert on.batches.next()["x"].is_contiguous()
    off = gancore.create_run(tiny_ring, overrides=overrides).train()
    assert_same(values(on), values(off))


def test_evaluation_of_a_channels_last_run():
    run = create(**{"train.steps": 2}).train()
    scores = run.evaluate(metrics=["fid", "kid"], num_samples=32, features="identity")
    assert set(scores) >= {"fid", "kid"} and all(torch.isfinite(torch.tensor(v)) for v in scores.values())


def test_the_setting_is_a_bool():
    with pytest.raises(gancore.GancoreError, match="train.channels_last"):
        gancore.create_run(RECIPE, data=colour_images(), overrides={"train.channels_last": "yes"})
