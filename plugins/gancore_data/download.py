"""Fetching data files into a local cache, verified by the hash of their content.

``fetch_gzipped`` keeps a gzip file's decompressed content (hashed after decompression);
``fetch_file`` keeps a file as published (an archive, hashed as it is).

Only verified files ever appear under their final name: the download and any
decompressed copy go to temporary files in the cache folder itself (same file system),
and an ``os.replace`` publishes the result atomically. A failed or mismatching download
leaves nothing behind, so the next attempt starts clean.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import gancore
from gancore import GancoreError

_CHUNK = 1 << 20


def cache_root() -> Path:
    """Where downloaded data lives: gancore's cache folder (``$GANCORE_CACHE``)."""
    return gancore.cache_dir()


def _cached(dest: Path, what: str) -> bool:
    """Whether ``dest`` is already there (it was verified when it was written); if not, its
    cache folder is made ready for the download."""
    if dest.is_file():
        return True
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GancoreError(f"{what}: cannot create cache folder {dest.parent}: {exc.strerror or exc}") from None
    return False


def fetch_gzipped(url: str, dest: Path, sha256: str, *, what: str, timeout: float = 60.0) -> Path:
    """Download the gzip file at ``url`` and store its decompressed content as ``dest``.

    The SHA-256 of the decompressed content must equal ``sha256`` (hex); otherwise
    nothing is kept and a ``GancoreError`` names the file and both hashes. An existing
    ``dest`` is returned as is: it was verified when it was written.
    """
    if _cached(dest, what):
        return dest
    temps: list[Path] = []
    try:
        packed, unpacked = _temp_path(dest, ".gz.part", temps), _temp_path(dest, ".part", temps)
        _download(url, packed, what=what, timeout=timeout)
        actual = _decompress_hashing(packed, unpacked, what=what, url=url)
        if actual != sha256.lower():
            raise GancoreError(
                f"{what}: SHA-256 mismatch for {dest.name} downloaded from {url}: "
                f"expected {sha256.lower()}, got {actual}; the download was discarded"
            )
        os.chmod(unpacked, 0o644)  # temporary files are private; a cache is for reading
        os.replace(unpacked, dest)
    finally:
        for leftover in temps:
            leftover.unlink(missing_ok=True)
    return dest


def fetch_file(url: str, dest: Path, digest: str, *, algorithm: str = "sha256", what: str, timeout: float = 60.0) -> Path:
    """Download the file at ``url`` as it is and store it as ``dest``.

    Its ``algorithm`` hash (a ``hashlib`` name: ``"sha256"``, or ``"md5"`` where that is
    all the publisher lists) must equal ``digest`` (hex); otherwise nothing is kept and a
    ``GancoreError`` names the file and both hashes. An existing ``dest`` is returned as
    is: it was verified when it was written.
    """
    if _cached(dest, what):
        return dest
    temps: list[Path] = []
    try:
        part = _temp_path(dest, ".part", temps)
        _download(url, part, what=what, timeout=timeout)
        actual = _file_digest(part, algorithm)
        if actual != digest.lower():
            raise GancoreError(
                f"{what}: {algorithm.upper()} mismatch for {dest.name} downloaded from {url}: "
                f"expected {digest.lower()}, got {actual}; the download was discarded"
            )
        os.chmod(part, 0o644)
        os.replace(part, dest)
    finally:
        for leftover in temps:
            leftover.unlink(missing_ok=True)
    return dest


def _file_digest(path: Path, algorithm: str) -> str:
    """The ``algorithm`` hash (hex) of a file's bytes, read in chunks."""
    # A checksum of published data, not a security measure (FIPS builds refuse MD5 otherwise).
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_path(dest: Path, suffix: str, temps: list[Path]) -> Path:
    """A new empty file next to ``dest``, recorded in ``temps`` for clean-up."""
    handle, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(handle)
    temps.append(Path(name))
    return temps[-1]


def _download(url: str, into: Path, *, what: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(into, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
    except urllib.error.HTTPError as exc:
        raise GancoreError(f"{what}: cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise GancoreError(f"{what}: cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise GancoreError(f"{what}: cannot download {url}: {exc}") from None


def _decompress_hashing(packed: Path, into: Path, *, what: str, url: str) -> str:
    """Decompress ``packed`` into ``into``; the SHA-256 (hex) of the decompressed bytes."""
    digest = hashlib.sha256()
    try:
        with gzip.open(packed, "rb") as source, open(into, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise GancoreError(f"{what}: {url} is not valid gzip data ({exc})") from None
    return digest.hexdigest()
