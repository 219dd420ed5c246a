"""The reconstruction metric: held-out images against the generator's closest outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gancore


class Span(nn.Module):
    """G(z) = z @ basis: reconstructs exactly the images in the span of its basis."""

    def __init__(self, basis: torch.Tensor) -> None:
        super().__init__()
        self.latent_dim = basis.shape[0]
        self.basis = nn.Parameter(basis.flatten(1).clone())

    def forward(self, z):
        return (z @ self.basis).view(-1, 1, 28, 28)


def metric(**params):
    return gancore.build("metric", "reconstruction", {"dataset_params": {"limit": 16}, "steps": 400,
                                                      "restarts": 2, "lr": 0.1} | params)


def reconstruct(m, network):
    real = {"x": torch.zeros(4, 1, 28, 28)}
    return m.compute(real, real, generator=gancore.LatentGenerator(network, network.latent_dim, torch.device("cpu")))


def test_images_in_the_generator_s_span_are_reconstructed_and_others_are_not():
    m = metric()
    held_out = m.images
    assert held_out.shape == (16, 1, 28, 28)
    exact = reconstruct(m, Span(held_out))  # every held-out image is a code away
    torch.manual_seed(0)
    noise = reconstruct(m, Span(torch.randn(16, 1, 28, 28)))
    assert exact["reconstruction_mse"] < 0.01 * noise["reconstruction_mse"]
    assert noise["reconstruction_distance"] == pytest.approx(noise["reconstruction_mse"] * 784)
    # a generator of one image: the distance is each held-out image's to that one
    single = reconstruct(m, Span(held_out[:1]))
    assert exact["reconstruction_mse"] < single["reconstruction_mse"] < noise["reconstruction_mse"]


def test_the_generator_s_weights_are_left_as_they_were():
    net = Span(torch.randn(4, 1, 28, 28))
    before = net.basis.detach().clone()
    reconstruct(metric(steps=5), net)
    assert torch.equal(net.basis, before) and net.basis.requires_grad and net.basis.grad is None


def test_from_a_run_on_its_averaged_generator_and_refused_for_a_conditional_one():
    over = {"train.steps": 3, "train.batch_size": 16, "data.limit": 64, "generator.width": 8, "critic.width": 8,
            "train.device": "cpu"}
    run = gancore.create_run("dcgan-mnist", overrides=over).train()
    spec = {"name": "reconstruction", "num_images": 8, "steps": 5, "restarts": 1}
    values = run.evaluate([spec])
    assert set(values) == {"reconstruction_mse", "reconstruction_distance"} and values["reconstruction_mse"] > 0
    conditional = gancore.create_run("cdcgan-mnist", overrides=over).train()
    with pytest.raises(gancore.GancoreError, match="needs an unconditional generator of latent codes"):
        conditional.evaluate([spec])


def test_held_out_images_of_another_shape_are_one_clear_error():
    m = metric(dataset="stacked-mnist", dataset_params={"num_samples": 8})
    with pytest.raises(ValueError, match=r"held-out images are \(3, 28, 28\)"):
        reconstruct(m, Span(torch.randn(4, 1, 28, 28)))
