"""The files an export writes, each for its reader (``gancore export``; ``_export.py``
decides what goes into them, ``gancore.load_generator`` reads them back):

- ``generator.pt2``: a ``torch.export`` program (``torch.export.load``), which needs torch
  alone: the graph and weights together, with a dynamic batch size;
- ``model.safetensors`` with ``config.json``: the weights and what rebuilds the network
  (the generator's registered name and parameters, the data's spec), which
  ``gancore.load_generator`` turns back into the plugin's own ``nn.Module``;
- ``model.onnx`` (the ``onnx`` extra): the graph for ONNX runtimes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ._errors import GancoreError
from ._parts import DataSpec

FORMATS = ("pt2", "safetensors", "onnx")
DEFAULT_FORMATS = ("pt2", "safetensors")
PROGRAM_FILE, WEIGHTS_FILE, CONFIG_FILE, ONNX_FILE = "generator.pt2", "model.safetensors", "config.json", "model.onnx"
CARD_FILE, SAMPLE_FILE = "README.md", "sample.png"
EXPORT_FILES = (PROGRAM_FILE, WEIGHTS_FILE, CONFIG_FILE, ONNX_FILE, CARD_FILE, SAMPLE_FILE)
CONFIG_FORMAT = 1  # config.json's version: a newer one is refused by an older gancore
ONNX_EXTRA = "pip install 'gancore[onnx]'"
EXAMPLE_BATCH = 2  # the batch the graph is traced with; the batch dimension stays free


def parse_formats(text: str) -> tuple[str, ...]:
    """``"pt2,onnx"`` -> ("pt2", "onnx"), each a known format, the onnx extra present if named."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise GancoreError(f"format {text!r}: the formats are {', '.join(FORMATS)} (comma-separated)")
    if "onnx" in names and not (importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxscript")):
        raise GancoreError(f"format onnx needs the onnx extra: {ONNX_EXTRA}")
    return names


class Exportable(nn.Module):
    """The generator as the exported graph calls it: ``forward(z)``, or ``forward(z, labels)``
    for a class-conditional one; the generator's own keyword defaults are not part of it."""

    def __init__(self, generator: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.generator, self.conditional = generator, conditional

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        out: Tensor = self.generator(z, labels) if self.conditional else self.generator(z)
        return out


def example_inputs(latent_dim: int, num_classes: int | None) -> tuple[Tensor, ...]:
    z = torch.randn(EXAMPLE_BATCH, latent_dim, generator=torch.Generator().manual_seed(0))
    return (z, torch.arange(EXAMPLE_BATCH) % num_classes) if num_classes else (z,)


def _dynamic_batch(conditional: bool) -> dict[str, Any]:
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    shapes: dict[str, Any] = {"z": {0: batch}}
    if conditional:
        shapes["labels"] = {0: batch}
    return shapes


def cpu_copy(generator: nn.Module) -> nn.Module:
    """The generator on the CPU in eval mode and in the ordinary memory layout (a run's
    stays where it is): what every format is written from."""
    copied = copy.deepcopy(generator).cpu().eval()
    for module in copied.modules():
        # train.compile compiled the run's network in place; the copy's compiled call would
        # still run the original (on the run's device): the copy is traced eagerly instead.
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None
    for p in copied.parameters():
        p.requires_grad_(False)
    for tensor in [*copied.parameters(), *copied.buffers()]:
        tensor.data = tensor.data.contiguous()
    return copied


def write_program(generator: nn.Module, latent_dim: int, num_classes: int | None, path: Path) -> None:
    """``generator.pt2``: the graph traced by ``torch.export`` with a free batch dimension."""
    module = Exportable(generator, bool(num_classes)).eval()
    try:
        program = torch.export.export(module, example_inputs(latent_dim, num_classes),
                                      dynamic_shapes=_dynamic_batch(bool(num_classes)))
    except Exception as exc:  # torch's exporter raises many kinds: the first line says what it could not trace
        raise GancoreError(f"torch.export cannot trace this generator ({type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); try --format safetensors") from None
    with _atomic(path) as tmp:
        torch.export.save(program, tmp)


def write_onnx(generator: nn.Module, latent_dim: int, num_classes: int | None, path: Path) -> None:
    """``model.onnx``: the same graph through torch's ONNX exporter (inputs ``z`` and
    ``labels``, output ``samples``, a free batch dimension)."""
    import logging
    import warnings

    module = Exportable(generator, bool(num_classes)).eval()
    names = ["z", "labels"] if num_classes else ["z"]
    # The exporter's notes (optional operators it skips, its progress) are not the user's concern.
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    with _atomic(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, example_inputs(latent_dim, num_classes), str(tmp), input_names=names,
                              output_names=["samples"], dynamic_shapes=_dynamic_batch(bool(num_classes)), dynamo=True,
                              external_data=False, verbose=False)
        except Exception as exc:  # as for torch.export: one line
            raise GancoreError(f"the ONNX exporter cannot convert this generator ({type(exc).__name__}: "
                               f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
        finally:
            onnx_log.setLevel(level)


def write_weights(generator: nn.Module, config: dict[str, Any], folder: Path) -> None:
    """``model.safetensors`` (every tensor of the state dict, each its own copy: safetensors
    stores no shared memory) and ``config.json``."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous().clone() for k, v in generator.state_dict().items()}
    with _atomic(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "config": CONFIG_FILE})
    write_json(folder / CONFIG_FILE, config)


def write_json(path: Path, data: Any) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def spec_json(spec: DataSpec) -> dict[str, Any]:
    return {"shape": list(spec.shape), "num_classes": spec.num_classes,
            "fields": {k: list(v) for k, v in spec.fields.items()},
            "class_names": list(spec.class_names) if spec.class_names is not None else None}


def spec_of(data: dict[str, Any]) -> DataSpec:
    names = data.get("class_names")
    return DataSpec(shape=tuple(data["shape"]), num_classes=data.get("num_classes"),
                    fields={k: tuple(v) for k, v in data.get("fields", {}).items()},
                    class_names=tuple(names) if names is not None else None)


def prepare_folder(folder: Path, formats: Sequence[str]) -> None:
    """``folder`` made, or emptied of a previous export's files that this one does not
    write again; a folder holding anything else is refused (an export's folder is what
    ``--hub-repo`` pushes, and stale or foreign files would go with it)."""
    if folder.exists() and not folder.is_dir():
        raise GancoreError(f"--out {folder}: a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    others = sorted(p.name for p in folder.iterdir() if p.name not in EXPORT_FILES and not p.name.startswith("."))
    if others:
        raise GancoreError(f"--out {folder} holds other files ({', '.join(others[:3])}): export into a new or empty "
                           "folder, or a previous export's")
    written = {CARD_FILE, SAMPLE_FILE}
    written |= {PROGRAM_FILE} if "pt2" in formats else set()
    written |= {WEIGHTS_FILE, CONFIG_FILE} if "safetensors" in formats else set()
    written |= {ONNX_FILE} if "onnx" in formats else set()
    for name in set(EXPORT_FILES) - set(written):
        (folder / name).unlink(missing_ok=True)


class _atomic:
    """A temporary path beside ``path``, renamed over it when the block succeeds and
    removed when it fails: a reader never finds half a file."""

    def __init__(self, path: Path) -> None:
        # The temporary name keeps the suffix: torch.export.save checks it is .pt2.
        self.path, self.tmp = path, path.with_name(f".{path.stem}.tmp{path.suffix}")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
