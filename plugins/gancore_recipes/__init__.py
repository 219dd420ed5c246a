"""gancore first-party plugin: the built-in recipes, one TOML file each in recipes/."""

import gancore
from _gancore_support.recipes import register_recipe_folder


@gancore.hookimpl
def register_recipes(register):
    register_recipe_folder(register, __name__)
