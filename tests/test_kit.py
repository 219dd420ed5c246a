"""The contract kit as a plugin author meets it: a third-party package tested with
``python -m pytest --gancore-plugin NAME``, and broken parts it must catch, by name."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from torch import nn

import gancore
from gancore.testing import (STANDARD_SPECS, ContractError, check_critic, check_image_loss, check_loss, check_optimizer,
                             check_scheme)
from tests.test_docs import section
from tests.test_plugin_guide import tutorial_package

# A third party's plugin: a loss, a critic and a scheme, as docs/plugins.md teaches them.
PLUGIN = '''
import torch
import torch.nn.functional as F
from torch import nn

import gancore


class SoftHinge(gancore.AdversarialLoss):
    """A hinge loss with softplus corners."""

    def critic(self, real, fake):
        return F.softplus(1 - real).mean() + F.softplus(1 + fake).mean()

    def generator(self, fake, real=None):
        return -fake.mean()


class TinyCritic(nn.Module):
    """A two-layer critic over flattened samples."""

    def __init__(self, *, spec: gancore.DataSpec, hidden: int = 16):
        super().__init__()
        self.num_classes, self.pack = None, 1
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.Size(spec.shape).numel()), hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x, labels=None):
        return self.net(x).squeeze(1)


class Alternating(gancore.Scheme):
    """The critic and the generator take turns, one update per step."""

    slots = {"generator": gancore.Slot("generator"), "critic": gancore.Slot("critic"),
             "loss": gancore.Slot("loss", default="non-saturating")}

    def __init__(self, *, generator, critic, loss):
        super().__init__()
        self.generator, self.critic, self.loss = generator, critic, loss

    def fake(self, step, n):
        return self.generator(step.randn(n, self.generator.latent_dim))

    def critics_turn(self, number):
        return number % 2 == 0

    def train_step(self, step):
        real = step.batch()["x"]
        if self.critics_turn(step.number):
            with torch.no_grad():
                fake = self.fake(step, real.shape[0])
            return step.critic_update(self.loss, (self.critic, real, fake))
        loss = step.generator_loss(self.loss, self.critic, self.fake(step, real.shape[0]), real)
        step.update("generator", loss)
        return {"loss_generator": loss.detach()}

    def sample(self, request):
        return self.generator(request.latent(self.generator.latent_dim))
'''

REGISTER = '''

@gancore.hookimpl
def register_parts(register):
    register("loss", "soft-hinge", SoftHinge)
    register("critic", "tiny", TinyCritic)
    register("scheme", "alternating", Alternating)
'''

# Each broken the way the issue describes: one value per sample, (N, 1) scores, and
# state outside the checkpoint (a Python counter) that steers training.
BROKEN = '''

class PerSample(SoftHinge):
    def critic(self, real, fake):
        return F.softplus(1 - real) + F.softplus(1 + fake).mean()


class ColumnCritic(TinyCritic):
    def forward(self, x, labels=None):
        return self.net(x)


class Forgetful(Alternating):
    """Warms the critic up for three steps, counted where no checkpoint sees it."""

    calls = 0

    def critics_turn(self, number):
        self.calls += 1
        return True if self.calls <= 3 else super().critics_turn(number)


@gancore.hookimpl
def register_parts(register):
    register("loss", "soft-hinge", PerSample)
    register("critic", "tiny", ColumnCritic)
    register("scheme", "alternating", Forgetful)
'''


def _pytest_kit(plugin_dist, tmp_path, name, code):
    module = plugin_dist(name, code)
    site = os.path.dirname(sys.modules.get(module).__file__) if module in sys.modules else None
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "site"), site,
                                                                     os.environ.get("PYTHONPATH")])))
    work = tmp_path / "author"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pytest", "--gancore-plugin", name, "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist"], cwd=work, env=env, capture_output=True, text=True, timeout=600)


def test_a_third_party_plugin_passes_the_kit(plugin_dist, tmp_path):
    result = _pytest_kit(plugin_dist, tmp_path, "author", PLUGIN + REGISTER)
    assert result.returncode == 0, result.stdout + result.stderr
    # the loss, the critic on each standard spec, and the scheme's resume
    assert "passed" in result.stdout and "failed" not in result.stdout


def test_broken_parts_fail_the_kit_and_each_failure_names_its_part(plugin_dist, tmp_path):
    result = _pytest_kit(plugin_dist, tmp_path, "author", PLUGIN + BROKEN)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "loss 'soft-hinge' (plugin author): critic(real, fake) returned shape (8,), not a scalar" in out
    assert "critic 'tiny' (plugin author) on points: returned scores of shape (4, 1)" in out
    assert "scheme 'alternating' (plugin author)" in out and "resumed differs from one trained straight" in out


LOSS_ONLY = PLUGIN.split("class TinyCritic")[0] + '''

@gancore.hookimpl
def register_parts(register):
    register("loss", "soft-hinge", SoftHinge)
'''


def _kit_in(folder, tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_the_kit_run_from_a_project_root_runs_the_plugin_s_cases_alone(plugin_dist, tmp_path):
    """From gancore's own root (whose testpaths hold the whole suite) the option selects
    the plugin's one case; paths named next to it still add their tests."""
    plugin_dist("author", LOSS_ONLY)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Collected first: had the option let the suite in, running it would take an hour.
    listed = _kit_in(root, tmp_path, "--gancore-plugin", "author", "--collect-only")
    assert re.search(r"^1 test collected", listed.stdout, re.M), listed.stdout + listed.stderr
    alone = _kit_in(root, tmp_path, "--gancore-plugin", "author")
    assert alone.returncode == 0 and re.search(r"^1 passed", alone.stdout, re.M), alone.stdout + alone.stderr
    named = _kit_in(root, tmp_path, "--gancore-plugin", "author", "--collect-only",
                    "tests/test_kit.py::test_a_loss_pointing_the_wrong_way_is_caught")
    assert re.search(r"^2 tests collected", named.stdout, re.M), named.stdout + named.stderr


def test_an_unknown_plugin_name_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "--gancore-plugin", "nope", "-q", "-p", "no:xdist"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 4  # pytest's usage error
    assert "--gancore-plugin nope: no such plugin (installed:" in result.stderr


# ---------------------------------------------------------------- the check functions


class _Flip(gancore.AdversarialLoss):
    """Signs reversed: the critic would learn to prefer fakes."""

    def critic(self, real, fake):
        return real.mean() - fake.mean()

    def generator(self, fake, real=None):
        return -fake.mean()


def test_a_loss_pointing_the_wrong_way_is_caught():
    with pytest.raises(ContractError, match="flip: the critic loss does not fall as the real scores rise"):
        check_loss(_Flip(), label="flip")


class _FixedBatch(nn.Module):
    """Scores reshaped for a batch of 4 only."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return self.lin(x).reshape(4, -1).mean(1)


def test_a_critic_with_a_fixed_batch_size_is_caught():
    with pytest.raises(ContractError, match="scores of shape"):
        check_critic(_FixedBatch(), STANDARD_SPECS["points"])


def test_checks_of_a_sound_part_warn_of_nothing():
    """A plugin's test run shows no warning that the kit's own code caused."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_image_loss(gancore.build("image-loss", "l1"))
        check_optimizer(lambda weights: torch.optim.SGD(weights, lr=0.1))


def test_check_scheme_on_a_builtin_recipe_passes():
    check_scheme("gan-ring", overrides={"data.num_samples": 256, "generator.hidden": 16, "critic.hidden": 16})


def test_the_tutorial_plugin_passes_the_kit_as_docs_plugins_md_shows(tmp_path):
    tutorial = tutorial_package(tmp_path / "site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "pytest", "--gancore-plugin", "pixelnorm", "-p", "no:xdist",
                             "-p", "no:cacheprovider"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"(\d+) passed", result.stdout).group(1)
    documented = section(tutorial, "### 5. Test it with the contract kit")
    assert f"{passed} passed" in documented, result.stdout
