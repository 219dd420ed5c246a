"""Truncation: codes drawn within [-psi, psi], or a generator's own truncation; codes
given from a file; refused where the scheme's codes are not standard normal ones."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import gancore
from gancore._latents import read_latents, slerp, truncate, write_latents
from gancore.cli import app
from tests.conftest import TINY_RING

PSIS = (2.0, 1.0, 0.5, 0.25)


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ring"
    return gancore.create_run(copy.deepcopy(TINY_RING), out=out).train()


def spread(x: torch.Tensor) -> float:
    """The mean pairwise distance of the samples: how varied they are."""
    return float(torch.cdist(x.flatten(1), x.flatten(1)).mean())


def test_elements_outside_the_bound_are_drawn_again_inside_it_and_the_rest_kept():
    z = torch.randn(4000, 8, generator=torch.Generator().manual_seed(1))
    t = truncate(z, 0.5, torch.Generator().manual_seed(2))
    inside = z.abs() <= 0.5
    assert torch.equal(t[inside], z[inside]) and float(t.abs().max()) <= 0.5
    # the redrawn elements follow the normal restricted to the bound: their variance is
    # the truncated normal's, 1 - 2 a phi(a) / (2 Phi(a) - 1) at a = 0.5 (0.0796), not a uniform's (0.0833)
    a = 0.5
    phi, cdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(a / math.sqrt(2)))
    expected = 1 - 2 * a * phi / (2 * cdf - 1)
    assert float(t[~inside].var()) == pytest.approx(expected, rel=0.05)
    assert torch.equal(truncate(z, 100.0), z)


def test_truncation_narrows_the_samples_of_a_trained_run_as_psi_falls(ring_run):
    untruncated = spread(ring_run.sample(1024, seed=3))
    spreads = [spread(ring_run.sample(1024, seed=3, truncation=psi)) for psi in PSIS]
    print("spread of 1024 ring samples: none", round(untruncated, 4), dict(zip(PSIS, [round(s, 4) for s in spreads])))
    assert all(a > b for a, b in zip([untruncated, *spreads], spreads)), spreads


class MappingGenerator(nn.Module):
    """A generator with a mapping network of its own truncation: w pulled towards its mean."""

    latent_dim, num_classes = 4, None

    def __init__(self) -> None:
        super().__init__()
        self.mapping, self.synthesis = nn.Linear(4, 4), nn.Linear(4, 2)
        self.register_buffer("w_avg", torch.zeros(4))
        self.calls: list[float] = []

    def forward(self, z, labels=None):
        return self.synthesis(self.mapping(z))

    def truncated(self, z, psi, labels=None):
        self.calls.append(psi)
        w = self.mapping(z)
        return self.synthesis(self.w_avg + psi * (w - self.w_avg))


def test_a_generator_s_own_truncation_is_used_with_untruncated_codes():
    generator = MappingGenerator()
    recipe = {k: v for k, v in copy.deepcopy(TINY_RING).items() if k != "generator"}
    run = gancore.create_run(recipe, generator=generator)
    plain = run.sample(64, seed=5)
    pulled = run.sample(64, seed=5, truncation=0.5)
    assert generator.calls == [0.5]
    with torch.no_grad():  # the codes were not truncated: only w was pulled towards its average
        z = torch.randn(64, 4, generator=torch.Generator().manual_seed(5))
        w = generator.mapping(z)
        assert torch.allclose(pulled, generator.synthesis(0.5 * w), atol=1e-6)
        assert torch.allclose(plain, generator.synthesis(w), atol=1e-6)


def test_bad_bounds_and_schemes_without_standard_normal_codes_are_refused(ring_run):
    for psi in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(gancore.GancoreError, match="truncation must be a positive number"):
            ring_run.sample(8, truncation=psi)
    infogan = gancore.create_run({
        "scheme": {"name": "infogan", "categories": 4, "continuous": 1, "q_hidden": 8},
        "data": {"name": "mnist", "limit": 64},
        "generator": {"name": "infogan", "noise_dim": 8, "categories": 4, "continuous": 1, "width": 4, "hidden": 8},
        "critic": {"name": "infogan", "width": 4, "hidden": 8},
        "train": {"steps": 1, "batch_size": 16, "device": "cpu"},
    })
    with pytest.raises(gancore.GancoreError, match="scheme 'infogan' does not sample from standard normal codes"):
        infogan.sample(4, truncation=1.0)
    with pytest.raises(gancore.GancoreError, match="given latent codes: scheme 'infogan'"):
        infogan.sample(4, latents=torch.zeros(4, 8))


def test_sample_from_saved_codes_on_the_command_line(ring_run, tmp_path):
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(7))
    write_latents(tmp_path / "codes.npz", z)
    runner = CliRunner()
    done = runner.invoke(app, ["sample", str(ring_run.out), "--latents", str(tmp_path / "codes.npz"),
                               "--out", str(tmp_path / "s.npz"), "--threads", "1"])
    assert done.exit_code == 0, done.output
    assert "wrote 6 samples" in done.output
    with np.load(tmp_path / "s.npz") as data:
        got = torch.from_numpy(data["samples"])
    with ring_run.averaged() as scheme:
        assert torch.allclose(got, scheme.generator(z), atol=1e-6)
    # truncated on the command line: the same samples as through the API
    done = runner.invoke(app, ["sample", str(ring_run.out), "--truncation", "0.5", "--num", "16", "--seed", "2",
                               "--out", str(tmp_path / "t.npz"), "--threads", "1"])
    assert done.exit_code == 0, done.output
    with np.load(tmp_path / "t.npz") as data:
        assert torch.allclose(torch.from_numpy(data["samples"]), ring_run.sample(16, seed=2, truncation=0.5), atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--truncation", "0"], "truncation must be a positive number"),
    (["--latents", "codes.npz", "--num", "5"], "holds 6 codes"),
    (["--latents", "codes.npz", "--seed", "3"], "--seed: the codes come from"),
    (["--latents", "wrong.npz"], "this model takes 2 x 8"),
    (["--latents", "junk.npz"], "not a readable .npz file"),
    (["--latents", "nocodes.npz"], "no 'z' array"),
    (["--latents", "labelled.npz"], "gives labels, but this model is not class-conditional"),
])
def test_bad_codes_and_options_are_one_error_line(ring_run, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_latents(tmp_path / "codes.npz", torch.zeros(6, 8))
    write_latents(tmp_path / "wrong.npz", torch.zeros(2, 5))
    write_latents(tmp_path / "labelled.npz", torch.zeros(2, 8), torch.tensor([0, 1]))
    (tmp_path / "junk.npz").write_text("not a zip")
    np.savez(tmp_path / "nocodes.npz", codes=np.zeros((2, 8)))
    done = CliRunner().invoke(app, ["sample", str(ring_run.out), *args, "--threads", "1"])
    assert done.exit_code == 2, done.output
    assert message in done.output and "Traceback" not in done.output


def test_latents_files_round_trip_and_slerp_keeps_the_ends(tmp_path):
    z, labels = torch.randn(3, 5), torch.tensor([2, 0, 1])
    write_latents(tmp_path / "c.npz", z, labels)
    back, classes = read_latents(tmp_path / "c.npz")
    assert torch.equal(back, z) and torch.equal(classes, labels)
    a, b = torch.randn(16), torch.randn(16)
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], a, atol=1e-6) and torch.allclose(path[2], b, atol=1e-6)
    # halfway on the arc: the same angle to both ends, the mean of their norms
    cos = torch.nn.functional.cosine_similarity
    assert float(cos(path[1], a, dim=0)) == pytest.approx(float(cos(path[1], b, dim=0)), abs=1e-5)
    assert float(path[1].norm()) == pytest.approx(float((a.norm() + b.norm()) / 2), rel=1e-5)
