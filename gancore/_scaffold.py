"""``gancore new-plugin``: a plugin package written from the templates in ``_template/``,
which ship inside the installed package (a pip user has no repository to copy from).

Each core kind has a template module holding one small, working part and a test of what
that part alone does; the package registers the parts asked for under the plugin's name,
ships a recipe that trains with them, and tests itself with the contract kit.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import string
import tempfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import tomli_w

from ._errors import GancoreError, unknown_name_message
from ._parts import KINDS
from ._plugins import PluginHost
from ._registry import Kind


@dataclass(frozen=True)
class PartTemplate:
    module: str  # the template (and the package's module) holding the part
    factory: str  # the class or function registered
    noun: str  # the kind, in a sentence
    what: str  # the part, in a few words


PARTS: dict[str, PartTemplate] = {
    "generator": PartTemplate("generator", "MlpGenerator", "a generator", "a fully connected generator"),
    "critic": PartTemplate("critic", "MlpCritic", "a critic", "a fully connected critic"),
    "loss": PartTemplate("loss", "SoftHingeLoss", "a loss", "a hinge loss with softplus corners"),
    "regularizer": PartTemplate("regularizer", "DriftPenalty", "a regularizer", "the drift penalty on real scores"),
    "normalization": PartTemplate("normalization", "PixelNormalization", "a normalization",
                                  "pixelwise feature normalization"),
    "image-loss": PartTemplate("image_loss", "CharbonnierLoss", "an image loss", "the Charbonnier distance"),
    "dataset": PartTemplate("dataset", "spiral", "a dataset", "2D points on a spiral's arms"),
    "scheme": PartTemplate("scheme", "AlternatingScheme", "a scheme", "alternating critic and generator updates"),
    "metric": PartTemplate("metric", "MomentDistance", "a metric", "the distance of means and spreads"),
    "features": PartTemplate("features", "PooledFeatures", "a feature space", "pooled pixels as image features"),
    "callback": PartTemplate("callback", "BestValue", "a callback", "the best value of a logged quantity"),
    "optimizer": PartTemplate("optimizer", "adagrad", "an optimizer", "Adagrad"),
    "augment": PartTemplate("augment", "InstanceNoise", "an augmentation", "instance noise on critic inputs"),
}
assert set(PARTS) == set(KINDS), "every core kind has a template"

DEFAULT_KINDS = ("loss",)

# A plugin's name is an entry-point name and, with hyphens, every part's name: lowercase
# words of letters and digits, joined by hyphens or underscores.
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    plugin: str  # the entry point's name: gancore plugins, --block
    part: str  # every part's registered name (a part name is hyphenated)
    package: str  # the import package
    distribution: str  # the name pip installs

    @property
    def recipe(self) -> str:
        return f"{self.part}-example"


def plugin_names(name: str) -> PluginNames:
    """The names of plugin ``name``'s package, or a ``GancoreError`` saying what a name is."""
    if not _NAME.match(name):
        raise GancoreError(f"new-plugin {name!r}: a plugin's name is lowercase letters and digits, words joined "
                           "by hyphens (my-loss); it names the package gancore-NAME")
    if re.match(r"^gancore(?:[-_]|$)", name):
        raise GancoreError(f"new-plugin {name}: give the name without the gancore prefix; the package is gancore-NAME")
    part = name.replace("_", "-")
    package = "gancore_" + part.replace("-", "_")
    assert package.isidentifier() and not keyword.iskeyword(package)
    return PluginNames(plugin=name, part=part, package=package, distribution="gancore-" + part)


def chosen_kinds(given: Sequence[str] | None, registered: Mapping[str, Kind]) -> list[str]:
    """The kinds asked for, in the core's order: each item a kind or a comma list; ``all``
    for every core kind. ``registered``: the registry's kinds, plugins' included, whose
    interface only their plugin knows, so no template can write one."""
    items = [k.strip() for item in (given or DEFAULT_KINDS) for k in item.split(",") if k.strip()]
    if not items:
        raise GancoreError("--kinds: name one kind or more (or all)")
    if "all" in items:
        return list(KINDS)
    for kind in items:
        if kind in registered and kind not in KINDS:
            raise GancoreError(f"--kinds {kind}: a kind that plugin {registered[kind].plugin} adds; new-plugin "
                               f"writes parts of the core's kinds ({', '.join(KINDS)})")
        if kind not in KINDS:
            raise GancoreError(f"--kinds: {unknown_name_message('kind', kind, [*KINDS, 'all'])}")
    return [k for k in KINDS if k in items]


def refuse_clashes(names: PluginNames, kinds: Iterable[str], host: PluginHost) -> None:
    """What would make the new plugin fail to load next to those installed: its name, a
    (kind, name) pair or a recipe name already taken."""
    taken = host.plugins.get(names.plugin)
    if taken is not None:
        raise GancoreError(f"new-plugin {names.plugin}: a plugin of that name is installed already "
                           f"({taken.distribution} {taken.version}); choose another name")
    for kind in kinds:
        if (kind, names.part) in host.registry.parts:
            owner = host.registry.get(kind, names.part).plugin
            raise GancoreError(f"new-plugin {names.plugin}: {kind} {names.part!r} is registered already "
                               f"(plugin {owner}); choose another name")
    if names.recipe in host.registry.recipes:
        raise GancoreError(f"new-plugin {names.plugin}: recipe {names.recipe!r} is registered already; choose another name")


def check_target(target: Path) -> None:
    if target.is_file() or (target.exists() and not target.is_dir()):
        raise GancoreError(f"--out {target}: a file is there; choose a folder that does not exist or is empty")
    if target.is_dir() and any(target.iterdir()):
        raise GancoreError(f"{target} already exists and is not empty; choose another --out")


# -- rendering ---------------------------------------------------------------------------------


def _template(path: str) -> string.Template:
    return string.Template(files("gancore").joinpath("_template", *path.split("/")).read_text(encoding="utf-8"))


def example_recipe(names: PluginNames, kinds: Sequence[str]) -> dict[str, Any]:
    """A recipe that trains with every part asked for that a run of 2D points can use
    (the first-party ring, MLPs and defaults fill the rest)."""
    own = set(kinds)
    part = names.part

    def pick(kind: str, default: str) -> dict[str, Any]:
        return {"name": part if kind in own else default}

    used = [PARTS[k].noun for k in kinds if k not in ("image-loss", "features")]  # the run is of points
    trains = f"{_listed(used)} of the {names.plugin} plugin" if used else f"first-party parts (the {names.plugin} plugin's are for images)"
    recipe: dict[str, Any] = {"description": f"A GAN on 2D points with {trains}"}
    if "scheme" in own:
        recipe["scheme"] = {"name": part}
    recipe["data"] = pick("dataset", "ring")
    recipe["generator"] = pick("generator", "mlp") | ({"norm": part} if "normalization" in own else {})
    recipe["critic"] = pick("critic", "mlp")
    if "loss" in own:
        recipe["loss"] = {"name": part}
    for kind, section in (("regularizer", "regularizers"), ("augment", "augment"), ("callback", "callbacks")):
        if kind in own:
            recipe[section] = [{"name": part}]
    if "optimizer" in own:
        recipe["optim"] = {"name": part}
    if "metric" in own:
        recipe["eval"] = {"metrics": [part]}
    recipe["train"] = {"steps": 2000, "batch_size": 256}
    return recipe


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def render(names: PluginNames, kinds: Sequence[str], gancore_version: str) -> dict[str, str]:
    """The package's files: path (relative, with /) -> text."""
    values = {
        "plugin": names.plugin, "part": names.part, "package": names.package, "distribution": names.distribution,
        "recipe": names.recipe, "gancore_version": gancore_version, "first_kind": kinds[0],
        "package_tail": names.package.removeprefix("gancore_"),
        "what": _listed([PARTS[k].noun for k in kinds]),
    }
    modules = sorted({PARTS[k].module for k in kinds})
    values["summary"] = textwrap.fill(f"gancore plugin {names.plugin}: {values['what']}.", 88, subsequent_indent="")
    imports = "\n".join(
        f"from .{m} import {', '.join(sorted(PARTS[k].factory for k in kinds if PARTS[k].module == m))}" for m in modules)
    registrations = "\n".join(f'    register("{k}", "{names.part}", {PARTS[k].factory})' for k in kinds)
    table = "\n".join(f"| {k} | `{names.part}` | `{names.package}/{PARTS[k].module}.py` | {PARTS[k].what} |" for k in kinds)
    tests = "".join(_template(f"tests/{PARTS[k].module}.py.tmpl").substitute(values) for k in kinds)
    out = {
        "pyproject.toml": _template("pyproject.toml.tmpl").substitute(values),
        "README.md": _template("README.md.tmpl").substitute(values, parts_table=table),
        f"{names.package}/__init__.py": _template("package/__init__.py.tmpl").substitute(
            values, imports=imports, registrations=registrations),
        f"{names.package}/{names.recipe}.toml": f"# gancore train {names.recipe}\n\n" + tomli_w.dumps(example_recipe(names, kinds)),
        f"tests/test_{values['package_tail']}.py": _template("tests/test_plugin.py.tmpl").substitute(values, kind_tests=tests),
    }
    for module in modules:
        out[f"{names.package}/{module}.py"] = _template(f"package/{module}.py.tmpl").substitute(values)
    return out


def write_package(target: Path, contents: dict[str, str]) -> None:
    """Every file at once: written into a temporary folder beside ``target``, which is then
    renamed to it, so a failure leaves no half-written package."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # a folder as mkdir makes it, not mkdtemp's private one
    try:
        for relative, text in contents.items():
            path = staging.joinpath(*relative.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.is_dir():
            target.rmdir()  # empty, checked before
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
