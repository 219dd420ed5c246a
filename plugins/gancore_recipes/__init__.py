"""gancore first-party plugin: the built-in recipes, one TOML file each in recipes/."""

from importlib.resources import files

import gancore


@gancore.hookimpl
def register_recipes(register):
    for path in sorted(files(__name__).joinpath("recipes").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".toml"):
            register(path.name.removesuffix(".toml"), path)
