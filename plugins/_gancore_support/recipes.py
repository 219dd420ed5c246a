"""A plugin's built-in recipes: one TOML file each in the ``recipes`` folder of its package."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any


def register_recipe_folder(register: Callable[[str, Any], None], package: str) -> None:
    """Register every ``recipes/*.toml`` of ``package`` under its file name without
    ``.toml``, in name order (so a listing does not depend on the file system)."""
    for path in sorted(files(package).joinpath("recipes").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".toml"):
            register(path.name.removesuffix(".toml"), path)
