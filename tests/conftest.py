"""Shared fixtures: fake plugin distributions on sys.path, a fresh plugin host, tiny recipes."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap

import pytest
import torch

import gancore

# The suite's tensors are tiny: extra intra-op threads only add contention. Parallelism
# comes from running test files in separate processes (pytest -n 2) instead. The
# variable passes the choice on to the processes tests start, and keeps runs from
# choosing their threads by how busy the machine is (pytest's other worker).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """Make an installed-looking distribution with one ``gancore`` entry point.

    ``plugin_dist("bad", "raise ImportError('boom')", version="1.2.3")`` writes a module
    and a ``.dist-info`` folder that importlib.metadata discovers, exactly as pip would.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(name: str, code: str, version: str = "0.1.0") -> str:
        module = f"gancore_test_{name.replace('-', '_')}"
        (root / f"{module}.py").write_text(textwrap.dedent(code))
        dist = root / f"{module}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n")
        (dist / "entry_points.txt").write_text(f"[gancore]\n{name} = {module}\n")
        importlib.invalidate_caches()
        sys.modules.pop(module, None)
        return module

    return make


@pytest.fixture
def fresh_host():
    """Reload the plugins for one test; the next test loads them afresh (lazily, so after
    monkeypatch has restored the environment and sys.path)."""
    import gancore._plugins as plugins

    yield gancore.reload
    plugins._host = None


TINY_RING = {
    "description": "tiny ring run for tests",
    "data": {"name": "ring", "num_samples": 4096},
    "generator": {"name": "mlp", "latent_dim": 8, "hidden": 32, "layers": 2},
    "critic": {"name": "mlp", "hidden": 32, "layers": 2},
    "loss": {"name": "non-saturating"},
    "train": {"steps": 20, "batch_size": 64, "log_every": 5, "sample_every": 0, "checkpoint_every": 10,
              "num_samples": 64, "device": "cpu"},
}


@pytest.fixture
def tiny_ring():
    import copy

    return copy.deepcopy(TINY_RING)


@pytest.fixture
def tiny_ring_file(tmp_path, tiny_ring):
    import tomli_w

    path = tmp_path / "tiny.toml"
    path.write_text(tomli_w.dumps(tiny_ring))
    return path




@pytest.fixture(scope="session", autouse=True)
def offline_inception(inception_weights, tmp_path_factory):
    """No test downloads anything: the Inception weights are the session's random file
    (GANCORE_INCEPTION_WEIGHTS), the cache an empty folder, and the download address one
    that does not exist. Tests of the download and of missing weights change these."""
    from gancore_metrics import inception_weights as weights_module

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANCORE_INCEPTION_WEIGHTS", str(inception_weights))
        patch.setenv("GANCORE_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setattr(weights_module, "URL", (tmp_path_factory.mktemp("offline") / "no-such-file.pth").as_uri())
        yield


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    """A random state dict in the FID Inception-v3 layout (written once per session; about
    95 MB, as the published file), for tests of the ``inception`` features."""
    from tests.inception_reference import write_weights

    return write_weights(tmp_path_factory.mktemp("inception") / "random-inception.pth")
