"""Reading IDX files (the format MNIST ships in), plain or gzipped, without a per-item loop.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the items, big-endian, row-major.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from gancore import GancoreError

# IDX type code -> element type (big-endian where it matters).
_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(data: bytes, *, name: str, ndim: int | None = None) -> np.ndarray:
    """The array in an IDX file's bytes, a read-only view on ``data``.

    ``ndim`` (when given) is the number of dimensions the caller expects; ``name``
    goes into error messages.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise GancoreError(f"{name}: not an IDX file (bad magic number)")
    type_code, dims = data[2], data[3]
    if type_code not in _TYPES:
        raise GancoreError(f"{name}: unknown IDX element type 0x{type_code:02x}")
    if ndim is not None and dims != ndim:
        raise GancoreError(f"{name}: expected an IDX file of {ndim} dimensions, found {dims}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise GancoreError(f"{name}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    dtype = _TYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise GancoreError(
            f"{name}: IDX file is {len(data)} bytes, but its header {list(shape)} says {expected}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """A file's content, decompressed when it is gzipped (judged by its first bytes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GancoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    return decompress_if_gzipped(raw, name=str(path))


def decompress_if_gzipped(raw: bytes, *, name: str) -> bytes:
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise GancoreError(f"{name}: corrupt gzip data ({exc})") from None


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """The array in an IDX file on disk, gzipped or not."""
    return parse_idx(read_bytes(path), name=str(path), ndim=ndim)
