"""Where the FID Inception-v3 weights come from, and checking a file of them.

FID, KID and the Inception Score are defined in the feature space of the TensorFlow
Inception-v3 graph of 2015-12-05. pytorch-fid published that graph's weights ported to a
PyTorch state dict as ``pt_inception-2015-12-05-6726825d.pth``; that file is what the field's
PyTorch tools load, and what this module finds:

1. a path given explicitly (``weights = "PATH"`` in a recipe, ``--weights PATH``);
2. else the path in ``GANCORE_INCEPTION_WEIGHTS``;
3. else the file in the cache folder (``GANCORE_CACHE``, by default ``~/.cache/gancore``);
4. else it is downloaded into the cache folder, its SHA-256 checked before it is kept.

A file of another origin (a port of one's own) is accepted when its layout is the
network's, with an ``InceptionWeightsWarning`` that its features are not comparable with
published figures.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import torch
from torch import Tensor

import gancore
from gancore import GancoreError

FILE_NAME = "pt_inception-2015-12-05-6726825d.pth"
URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
# The published file's SHA-256 (the file is 95,628,359 bytes). Its first 8 hex digits are
# the suffix of the file name (torch.hub's naming convention); the full digest is the one
# that independent projects downloading this file pin, all in agreement.
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

WEIGHTS_ENV = "GANCORE_INCEPTION_WEIGHTS"
CACHE_ENV = "GANCORE_CACHE"
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


class InceptionWeightsWarning(gancore.RecipeWarning):
    """The weights file is not the published one: features from it are not comparable with
    FID values computed elsewhere (the CLI prints it as one line)."""


def cache_dir() -> Path:
    """The folder downloaded weights are kept in: ``GANCORE_CACHE``, else ``~/.cache/gancore``."""
    return gancore.cache_dir()


def _existing(path: str | Path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        state = "is not a file" if p.exists() else "does not exist"
        raise GancoreError(f"Inception weights file {p} ({what}) {state}")
    return p.resolve()


def weights_path(explicit: str | Path | None = None) -> Path:
    """The weights file to load: ``explicit``, else ``GANCORE_INCEPTION_WEIGHTS``, else the
    cached download (downloading it on first use). A ``GancoreError`` for a named file that
    is not there, or a download that fails."""
    if explicit is not None and str(explicit) != "":
        return _existing(explicit, "the features' weights, or --weights")
    from_env = os.environ.get(WEIGHTS_ENV)
    if from_env:
        return _existing(from_env, f"from {WEIGHTS_ENV}")
    target = cache_dir() / FILE_NAME
    if target.is_file():
        return target.resolve()
    download(URL, target, SHA256)
    return target.resolve()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _first_sentence(exc: BaseException) -> str:
    line = _first_line(exc)
    return line.split(". ", 1)[0].rstrip(".")


def download(url: str, target: Path, sha256: str) -> None:
    """Stream ``url`` to a temporary file beside ``target``, hashing while writing, and rename
    it into place only when its SHA-256 is ``sha256`` (a reader never sees half a file)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise GancoreError(f"cannot write {target.name} into the cache folder {target.parent}: {_first_line(exc)}"
                           f" (set {CACHE_ENV} to another folder, pass --weights PATH, or set {WEIGHTS_ENV}=PATH)"
                           ) from None
    digest = hashlib.sha256()
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
            # URLError and socket timeouts are OSErrors; ValueError: a malformed URL.
            raise GancoreError(
                f"cannot download the Inception weights {target.name} from {url} ({_first_line(exc)}); "
                f"download it yourself and put it at {target}, or name it with {WEIGHTS_ENV}=PATH, "
                "--weights PATH (gancore eval, stats) or the features' weights = PATH (docs/metrics.md)") from None
        got = digest.hexdigest()
        if got != sha256:
            raise GancoreError(f"the download of {url} has SHA-256 {got}, not the published {sha256}; "
                               f"refused, nothing was kept at {target}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- loading and checking

_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """The SHA-256 of ``path``, computed once per file (path, size, mtime) in a process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key not in _digests:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            _digests[key] = digest.hexdigest()
        return _digests[key]


def _shape(shape: tuple[int, ...] | torch.Size) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def layout_problems(state: dict[str, Tensor], expected: dict[str, torch.Size]) -> list[str]:
    """What in ``state`` differs from the layout ``expected`` (key -> shape); keys ending in
    ``num_batches_tracked`` may be absent."""
    problems = [f"missing {k}" for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [f"{k} has shape {_shape(v.shape)}, not {_shape(expected[k])}"
                 for k, v in state.items() if k in expected and v.shape != expected[k]]
    return problems


def load_inception_state(path: str | Path) -> dict[str, Tensor]:
    """The state dict in ``path``, checked against the FID Inception-v3 layout. A
    ``GancoreError`` (one line) for a file that does not load or is not that layout; an
    ``InceptionWeightsWarning`` for a file of the right layout that is not the published one."""
    from .inception import state_shapes  # the architecture imports this module

    path = Path(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GancoreError(f"Inception weights file {path} does not exist") from None
    except pickle.UnpicklingError:  # junk, or objects weights_only refuses to unpickle
        raise GancoreError(f"cannot load Inception weights {path}: not a file of tensors written by torch.save"
                           " (UnpicklingError)") from None
    except Exception as exc:  # truncated, empty, damaged
        raise GancoreError(f"cannot load Inception weights {path}: {_first_sentence(exc)}") from None
    if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in loaded.items()):
        what = type(loaded).__name__ if not isinstance(loaded, dict) else "a dict that is not all names -> tensors"
        raise GancoreError(f"{path} is not an Inception state dict (it holds {what})")
    problems = layout_problems(loaded, state_shapes())
    if problems:
        shown = "; ".join(problems[:3])
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise GancoreError(f"{path} does not hold the FID Inception-v3 weights ({len(problems)} problem"
                           f"{'s' if len(problems) != 1 else ''}: {shown}{more})")
    digest = file_sha256(path)
    if digest != SHA256:
        warnings.warn(f"{path} is not the published {FILE_NAME} (SHA-256 {digest[:16]}..., published "
                      f"{SHA256[:16]}...): its features are not comparable with FID values computed elsewhere",
                      InceptionWeightsWarning, stacklevel=2)
    return loaded
