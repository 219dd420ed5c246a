"""pix2pix and CycleGAN: image losses, networks, offline data, the history pool, the schemes."""

from __future__ import annotations

import pytest
import torch

import gancore
from _gancore_support.mnist import dilate
from gancore import Run
from gancore_translation.data import sobel_edges
from gancore_translation.pool import HistoryPool

MNIST = gancore.DataSpec((1, 28, 28), num_classes=10)


# ---------------------------------------------------------------- image losses


def loss(name: str, **params):
    return gancore.build("image-loss", name, params)


def test_l1_cycle_and_identity_are_the_mean_absolute_difference():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.full((2, 1, 4, 4), 0.5)
    b[0, 0, 0, 0] = 2.5  # one pixel off by 2.5, 31 off by 0.5
    expected = (2.5 + 31 * 0.5) / 32
    for name in ("l1", "cycle", "identity"):
        assert loss(name)(b, a).item() == pytest.approx(expected)


def test_symmetry_is_zero_for_mirror_images_and_uses_the_output_only():
    left_right = torch.tensor([[1.0, -1.0, -1.0, 1.0]]).expand(4, 4).reshape(1, 1, 4, 4)
    assert loss("symmetry")(left_right).item() == 0
    ramp = torch.tensor([[-1.0, 0.0, 0.0, 1.0]]).expand(4, 4).reshape(1, 1, 4, 4)
    # |ramp - mirror| = [2, 0, 0, 2] per row: mean 1; the target is ignored.
    assert loss("symmetry")(ramp, torch.zeros(1, 1, 4, 4)).item() == pytest.approx(1.0)


def test_total_variation_counts_neighbour_differences():
    tv = loss("total-variation")
    assert tv(torch.full((2, 3, 5, 5), 0.3)).item() == 0
    rows = torch.arange(4).view(4, 1)
    board = ((rows + rows.T) % 2).float().mul(2).sub(1).view(1, 1, 4, 4)  # +-1 checkerboard
    assert tv(board).item() == pytest.approx(4.0)  # every vertical and horizontal step is 2
    stripes = torch.tensor([1.0, -1.0]).repeat(2).expand(4, 4).reshape(1, 1, 4, 4)  # vertical stripes
    assert tv(stripes).item() == pytest.approx(2.0)


def test_feature_loss_is_differentiable_and_trains_nothing_of_its_own():
    data = gancore.as_float(gancore.build("dataset", "mnist", {"limit": 8}).tensors["x"])
    for distance in ("l1", "l2"):
        feature = loss("feature", distance=distance)
        assert feature(data, data).item() == 0
        output = data.flip(0).clone().requires_grad_()
        value = feature(output, data)
        assert value.item() > 0
        value.backward()
        assert output.grad is not None and output.grad.abs().sum() > 0
    from gancore_metrics.features import mnist_network

    assert not any(p.requires_grad for p in mnist_network().parameters())
    # identity features: the feature distance is the pixel distance
    pixel = loss("feature", features="identity", distance="l1")
    assert pixel(data.flip(0), data).item() == pytest.approx((data.flip(0) - data).abs().mean().item())


def test_features_without_a_differentiable_path_are_refused():
    from gancore_translation.image_losses import differentiable_features

    class NoGradients(gancore.Features):
        def features(self, x):
            return x.flatten(1)

    with pytest.raises(ValueError, match="differentiable"):
        differentiable_features(NoGradients(), "no-gradients")
    with pytest.raises(NotImplementedError):
        NoGradients().differentiable_features(torch.zeros(1, 2))


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("side", [28, 32, 64])
def test_unet_maps_source_channels_to_image_channels_at_every_size(side):
    spec = gancore.DataSpec((1, side, side), fields={"source": (3, side, side), "x": (1, side, side)})
    net = gancore.build("generator", "unet", {"width": 4, "depth": 3}, spec=spec)
    out = net(torch.rand(2, 3, side, side) * 2 - 1)
    assert out.shape == (2, 1, side, side) and out.abs().max() <= 1
    assert not hasattr(net, "latent_dim") and net.num_classes is None


def test_unet_rejects_a_depth_the_image_cannot_take():
    with pytest.raises(gancore.GancoreError, match="depth"):
        gancore.build("generator", "unet", {"depth": 4}, spec=MNIST)  # 28 -> 14 -> 7 -> 3 -> 1


@pytest.mark.parametrize("side", [28, 32])
def test_resnet_keeps_the_image_size(side):
    spec = gancore.DataSpec((3, side, side))
    net = gancore.build("generator", "resnet", {"width": 4, "blocks": 2}, spec=spec)
    assert net(torch.rand(2, 3, side, side)).shape == (2, 3, side, side)


@pytest.mark.parametrize("layers, patches", [(1, 12 * 12), (2, 5 * 5)])
def test_patchgan_scores_every_patch(layers, patches):
    critic = gancore.build("critic", "patchgan", {"width": 4, "layers": layers}, spec=MNIST)
    assert critic(torch.rand(3, 1, 28, 28)).shape == (3, patches)


def test_paired_patchgan_reads_source_and_image_channels():
    spec = gancore.DataSpec((1, 28, 28), fields={"source": (2, 28, 28), "x": (1, 28, 28)})
    critic = gancore.build("critic", "patchgan", {"width": 4, "paired": True}, spec=spec)
    assert critic.in_channels == 3
    assert critic(torch.rand(2, 3, 28, 28)).shape == (2, 25)


# ---------------------------------------------------------------- data


def test_mnist_edges_pairs_edge_maps_with_digits_and_holds_data_out():
    train = gancore.build("dataset", "mnist-edges", {"limit": 50}).tensors
    held = gancore.build("dataset", "mnist-edges", {"subset": "held-out", "held_out": 100}).tensors
    assert train["source"].shape == train["x"].shape == (50, 1, 28, 28)
    assert len(held["x"]) == 100
    assert torch.equal(train["source"], sobel_edges(train["x"]))
    assert train["source"].min() >= -1 and train["source"].max() <= 1
    digits = gancore.as_float(gancore.build("dataset", "mnist", {}).tensors["x"])
    assert torch.equal(train["x"], digits[:50]) and torch.equal(held["x"], digits[-100:])
    # An edge map is the outline: bright where the digit's intensity changes, dark inside big flat areas.
    assert (train["source"][train["x"] < -0.99] > 0).float().mean() < 0.2


def test_mnist_unpaired_draws_the_domains_from_disjoint_images():
    data = gancore.build("dataset", "mnist-unpaired", {"limit": 40}).tensors
    digits = gancore.build("dataset", "mnist", {"limit": 40}).tensors
    x = gancore.as_float(digits["x"])
    assert torch.equal(data["a"], x[:20])
    assert torch.equal(data["b"], dilate(x[20:40])) and data["x"] is data["b"]
    assert torch.equal(data["label_b"], digits["label"][20:40])
    inverted = gancore.build("dataset", "mnist-unpaired", {"limit": 40, "domain_b": "inverted"}).tensors
    assert torch.equal(inverted["b"], -x[20:40])
    # Thick strokes cover more of the image than the plain ones they come from.
    assert (data["b"] > 0).float().mean() > 1.5 * (x[20:40] > 0).float().mean()


# ---------------------------------------------------------------- history pool


def reference_pool(pool: list[torch.Tensor], size: int, fakes: torch.Tensor, take_old, slot) -> torch.Tensor:
    """The rule one image at a time, as CycleGAN writes it, with the given random draws."""
    out = []
    for i, image in enumerate(fakes):
        if len(pool) < size:
            pool.append(image.clone())
            out.append(image)
        elif take_old[i]:
            out.append(pool[slot[i]].clone())
            pool[slot[i]] = image.clone()
        else:
            out.append(image)
    return torch.stack(out)


def test_history_pool_matches_the_one_image_at_a_time_rule():
    size, batch = 5, 4
    pool, reference = HistoryPool(size, (1, 2, 2)), []
    torch.manual_seed(0)
    returned_old = 0
    for step in range(8):
        fakes = torch.full((batch, 1, 2, 2), float(step)) + torch.arange(batch).view(-1, 1, 1, 1) / 10
        state = torch.get_rng_state()
        got = pool(fakes)
        torch.set_rng_state(state)  # the same draws, for the reference
        take_old, slot = torch.rand(batch) < 0.5, torch.randint(0, size, (batch,))
        assert torch.equal(got, reference_pool(reference, size, fakes, take_old, slot)), step
        assert torch.equal(pool.images[: len(reference)], torch.stack(reference))
        returned_old += int((got[:, 0, 0, 0] < step).sum())
    assert returned_old > 5  # once full, about half of what it returns is from earlier batches
    assert int(pool.count) == size and {"images", "count"} <= pool.state_dict().keys()


def test_history_pool_of_size_zero_passes_fakes_through():
    fakes = torch.rand(3, 1, 2, 2)
    assert HistoryPool(0, (1, 2, 2))(fakes) is fakes


# ---------------------------------------------------------------- schemes

PIX2PIX = {
    "data.limit": 48,
    "generator.width": 4,
    "critic.width": 4,
    "train.batch_size": 8,
    "train.steps": 6,
    "train.log_every": 3,
    "train.sample_every": 0,
    "train.checkpoint_every": 0,
    "train.num_samples": 6,
    "train.device": "cpu",
    "ema.decay": 0.9,
}
CYCLEGAN = {
    "data.limit": 48,
    "scheme.pool_size": 6,
    "generator_ab.width": 4,
    "generator_ab.blocks": 1,
    "generator_ba.width": 4,
    "generator_ba.blocks": 1,
    "critic_a.width": 4,
    "critic_b.width": 4,
    "train.batch_size": 4,
    "train.steps": 6,
    "train.log_every": 3,
    "train.sample_every": 0,
    "train.checkpoint_every": 0,
    "train.num_samples": 6,
    "train.device": "cpu",
}



def metrics(out) -> list[dict]:
    import json

    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "recipe, overrides, losses",
    [
        ("pix2pix-mnist", PIX2PIX, {"loss_critic", "loss_generator", "loss_reconstruction"}),
        ("cyclegan-mnist", CYCLEGAN, {"loss_critic", "loss_generator", "loss_cycle", "loss_identity"}),
    ],
)
def test_scheme_trains_logs_its_losses_and_samples(recipe, overrides, losses, tmp_path):
    straight = Run.create(recipe, overrides=overrides, out=tmp_path / "straight").train()
    rows = metrics(tmp_path / "straight")
    assert [r["step"] for r in rows] == [3, 6]
    for key in losses:
        assert all(torch.isfinite(torch.tensor(r[key])) for r in rows), key
    grid = straight.sample(6)
    assert grid.shape == (6, 1, 28, 3 * 28) and grid.abs().max() <= 1
    assert (tmp_path / "straight" / "samples" / "step-0000006.png").is_file()


def test_pix2pix_sample_shows_source_output_and_target():
    run = Run.create("pix2pix-mnist", overrides=PIX2PIX | {"train.steps": 1})
    grid = run.sample(4)
    data = run.dataset.tensors
    assert torch.equal(grid[..., :28], data["source"][:4])
    assert torch.equal(grid[..., 56:], data["x"][:4])
    with torch.no_grad():
        run.scheme.eval()
        assert torch.allclose(grid[..., 28:56], run.scheme.translate(data["source"][:4]))


def test_pix2pix_critic_sees_pairs_and_the_reconstruction_term_teaches():
    """The paired critic reads 2 channels; 40 steps of L1-dominated training cut the L1 error."""
    fast = {"train.steps": 40, "train.log_every": 10, "data.limit": 256, "generator.width": 8, "optim.lr": 2e-3}
    run = Run.create("pix2pix-mnist", overrides=PIX2PIX | fast)
    assert run.scheme.paired and run.scheme.critic.in_channels == 2
    rows = []
    run.train(report=rows.append)
    first, last = rows[0]["loss_reconstruction"], rows[-1]["loss_reconstruction"]
    assert last < 0.5 * first


def test_cyclegan_rejects_data_without_two_domains():
    with pytest.raises(gancore.GancoreError, match="fields 'a' and 'b'"):
        Run.create("cyclegan-mnist", overrides=CYCLEGAN | {"data": {"name": "mnist", "limit": 16}})


def test_builtin_recipes_build_and_translate_with_their_full_networks():
    """The recipes as shipped (full-width networks) build, and their untrained generators
    map MNIST images to MNIST-shaped images in [-1, 1]: each sample row is source (or
    original), translation, target (or reconstruction)."""
    for name in ("pix2pix-mnist", "cyclegan-mnist"):
        run = Run.create(name, overrides={"train.device": "cpu", "data.limit": 64})
        grid = run.sample(4)
        assert grid.shape == (4, 1, 28, 3 * 28), name
        assert torch.isfinite(grid).all() and grid.abs().max() <= 1, name
        translated = grid[..., 28:56]
        assert not torch.equal(translated, grid[..., :28]), f"{name}: the translation is the input unchanged"
