"""``--out``, read one way by every command: the place the command writes. A command that
writes a folder (``train``, ``new-plugin``) takes the folder; one that writes a file
(``sample``, ``stats``) takes the file, or a folder to write it into under its usual name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._errors import GancoreError


def output_file(out: Path, default_name: str, suffixes: Sequence[str]) -> Path:
    """The file ``--out`` names: ``out`` itself, with one of ``suffixes``; or, for a folder
    (one that exists, or a path without a suffix, made when written), ``default_name`` in it."""
    if out.is_dir() or not out.suffix:
        return out / default_name
    if out.suffix.lower() not in suffixes:
        raise GancoreError(f"--out {out}: use a {' or '.join(suffixes)} file, or a folder")
    return out
