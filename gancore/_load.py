"""``gancore.load_generator``: an exported generator (``gancore export``'s
``model.safetensors`` and ``config.json``) rebuilt as the plugin's own ``nn.Module``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._errors import GancoreError, UnknownNameError
from ._export_formats import CONFIG_FILE, CONFIG_FORMAT, WEIGHTS_FILE, spec_of
from ._random import Random

HUB_PREFIX = "hub:"


def load_generator(source: str | Path, *, device: str | torch.device = "cpu", registry: Any = None) -> nn.Module:
    """The generator of an export folder (``gancore export RUN --out DIR``), or of a Hugging
    Face Hub repository written by ``gancore export --hub-repo`` (``"hub:owner/name"``, with
    the ``hub`` extra), on ``device`` in eval mode: ``generator(z)``, or ``generator(z,
    labels)`` for a class-conditional one, with ``z`` standard normal codes of size
    ``generator.latent_dim``. It is built by the plugin that registered it, which must be
    installed; the weights are read with safetensors (no pickle) on the CPU and then
    moved, so a GPU-trained generator loads on a machine without one."""
    from ._plugins import registry as default_registry

    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        from ._hub import download

        folder = download(source.removeprefix(HUB_PREFIX))
    else:
        folder = Path(source)
    config = read_config(folder)
    reg = registry or default_registry()
    part = config["generator"]
    try:
        reg.get("generator", part["name"])
    except UnknownNameError:
        where = f" (plugin {part.get('plugin')!r}, from {part.get('distribution')})" if part.get("distribution") else ""
        raise GancoreError(f"{folder}: generator {part['name']!r} is not registered here: install the plugin that "
                           f"registered it{where}") from None
    spec = spec_of(config["data"])
    network = reg.build("generator", part["name"], part.get("params", {}), spec=spec,
                        random=Random.seeded(0, torch.device("cpu")))
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(folder / WEIGHTS_FILE), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise GancoreError(f"{folder / WEIGHTS_FILE}: cannot read the weights ({exc})") from None
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise GancoreError(f"{folder}: the weights do not fit generator {part['name']!r} as config.json builds it: "
                           f"{str(exc).splitlines()[0]}") from None
    for p in network.parameters():
        p.requires_grad_(False)
    loaded: nn.Module = network.to(device).eval()
    return loaded


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        what = "no such folder" if not folder.exists() else f"no {CONFIG_FILE} (an export with --format safetensors has one)"
        raise GancoreError(f"{folder}: {what}")
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        version = int(config["format"])
        config["generator"]["name"], config["data"]["shape"]  # noqa: B018  the keys a load needs
    except (ValueError, KeyError, TypeError) as exc:
        raise GancoreError(f"{path}: not an export's config ({type(exc).__name__}: {exc})") from None
    if version > CONFIG_FORMAT:
        raise GancoreError(f"{path}: written by a newer gancore (config format {version}); upgrade gancore to load it")
    return config
