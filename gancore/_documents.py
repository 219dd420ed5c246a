"""Recipe documents: reading a file or a built-in recipe, applying ``--set`` overrides and
``--log-to`` callbacks to the document, and the validated recipe of a new run or of a run
directory (whose resume may change only what leaves the weights alone)."""

from __future__ import annotations

import copy
import json
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._datasets import AbsentData
from ._distributed import JobError
from ._errors import GancoreError, RecipeWarning
from ._optim import DEFAULT_OPTIMIZER, ENGINE_KEYS, upgrade_saved_tables
from ._recipe import Recipe
from ._registry import Registry
from ._rundir import RECIPE_FILE, check_run

# Only these may change when a run is resumed: they do not change what the weights are.
RESUMABLE_KEYS = ("train.steps", "train.device", "train.threads", "train.log_every", "train.sample_every",
                  "train.checkpoint_every", "train.keep_checkpoints", "train.num_samples", "eval.every",
                  "eval.metrics", "eval.num_samples", "eval.features", "eval.best",
                  "train.on_nonfinite", "train.skip_limit", "train.backend", "train.sync_batchnorm", "train.channels_last",
                  "callbacks")


def new_recipe(source: str | Path | Mapping[str, Any], registry: Registry, *,
               overrides: Mapping[str, Any] | list[str] | None = None, log_to: Sequence[str] = (),
               objects: Mapping[str, Any] | None = None) -> tuple[str, Recipe]:
    """(name, recipe) of a new run: a recipe (a name, a file or a dict), ``--set``-style
    overrides, callbacks to add by name, and objects for slots (``generator=MyModule()``)."""
    name, doc = load_source(source, registry)
    if overrides:
        doc = apply_overrides(doc, overrides)
    return name, Recipe(add_callbacks(doc, list(log_to)), registry, objects=dict(objects or {}))


def stored_recipe(path: Path, registry: Registry, *, overrides: Mapping[str, Any] | list[str] | None = None,
                  log_to: Sequence[str] = (), objects: Mapping[str, Any] | None = None) -> Recipe:
    """The recipe of run directory ``path``, with the changes a resume may make; a slot that
    was a Python object must be given again."""
    check_run(path)
    objects = dict(objects or {})
    doc = read_document(path / RECIPE_FILE)
    upgrade_saved_tables(doc, registry)  # optimizer tables written by an older version
    for slot, value in list(doc.items()):
        if isinstance(value, dict) and value.get("name") == "<object>":
            if slot == "data" and slot not in objects:  # sampling needs only the checkpoint
                objects[slot] = AbsentData(str(value.get("class")))
            if slot not in objects:
                raise GancoreError(f"this run's {slot} was a Python object ({value.get('class')}); pass it again: "
                                   f"load_run(path, {slot}=...)")
            del doc[slot]
    if overrides:
        check_resumable(overrides)
        doc = apply_overrides(doc, overrides)
    return Recipe(add_callbacks(doc, list(log_to)), registry, objects=objects)


def check_resumable(overrides: Mapping[str, Any] | list[str]) -> None:
    """Refuse a resume that would change what the weights are (a key outside RESUMABLE_KEYS)."""
    keys = [".".join(parse_override(o)[0]) for o in overrides] if isinstance(overrides, list) else list(overrides)
    for key in keys:
        if key not in RESUMABLE_KEYS:
            raise JobError(f"--set {key}: cannot change when resuming (only {', '.join(RESUMABLE_KEYS)})")


def read_document(path: Path) -> dict[str, Any]:
    """A recipe file: TOML, or JSON by its extension."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise GancoreError(f"recipe file not found: {path}") from None
    except OSError as exc:
        raise GancoreError(f"cannot read recipe {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GancoreError(f"{path}: not a valid recipe document: {exc}") from None
    if not isinstance(data, dict):
        raise GancoreError(f"{path}: a recipe is a table of sections")
    return data


def load_source(source: str | Path | Mapping[str, Any], registry: Registry) -> tuple[str, dict[str, Any]]:
    """(name, document) from a recipe dict, a file path, or a built-in recipe's name."""
    if isinstance(source, Mapping):
        return "recipe", copy.deepcopy(dict(source))
    text = str(source)
    path = Path(text)
    looks_like_file = path.suffix.lower() in (".toml", ".json") or "/" in text or path.exists()
    if looks_like_file:
        return path.stem, read_document(path)
    builtin = registry.recipe(text)
    p = builtin.path
    data = tomllib.loads(p.read_text(encoding="utf-8")) if hasattr(p, "read_text") else read_document(Path(p))
    return text, data


def add_callbacks(doc: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The document with ``[[callbacks]]`` of these names added, unless it has them."""
    if not names:
        return doc
    doc = copy.deepcopy(doc)
    current = doc.get("callbacks", [])
    current = list(current) if isinstance(current, list) else [current]
    have = {c.get("name") if isinstance(c, Mapping) else c for c in current}
    doc["callbacks"] = current + [{"name": n} for n in dict.fromkeys(names) if n not in have]
    return doc


def parse_override(item: str) -> tuple[list[str], Any]:
    """``critic.norm=spectral`` -> (["critic", "norm"], "spectral"); values are TOML."""
    if "=" not in item:
        raise GancoreError(f"--set {item!r}: expected dotted.key=value")
    key, _, value = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise GancoreError(f"--set {item!r}: expected dotted.key=value")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value  # a bare word is a string: critic.norm=spectral
    return key.split("."), parsed


def apply_overrides(doc: dict[str, Any], overrides: Mapping[str, Any] | list[str]) -> dict[str, Any]:
    """Set dotted keys in a recipe document (list indices are numbers: regularizers.0.weight;
    the index one past the end adds a table: augment.0.name=diffaugment)."""
    doc = copy.deepcopy(doc)
    pairs = [parse_override(o) for o in overrides] if isinstance(overrides, list) else [
        (k.split("."), v) for k, v in overrides.items()
    ]
    for keys, value in pairs:
        node: Any = doc
        for i, key in enumerate(keys[:-1]):
            nxt = keys[i + 1]
            if isinstance(node, list):
                if key.isdigit() and int(key) == len(node):
                    node.append({})  # augment.0.name=x on a recipe without one: a new table
                node = _list_item(node, key, keys)
                continue
            child = node.get(key)
            if child is None:
                child = node[key] = [] if nxt.isdigit() else {}
            elif isinstance(child, str) and not nxt.isdigit():
                child = node[key] = {"name": child}  # scheme = "x" then --set scheme.n_critic=5
            elif not isinstance(child, (dict, list)):
                raise GancoreError(f"--set {'.'.join(keys)}: {'.'.join(keys[: i + 1])} is not a table")
            node = child
        last = keys[-1]
        if isinstance(node, list):
            idx = _index(last, node, keys)
            node[idx] = value
        else:
            if last == "name" and len(keys) > 1 and keys[0] not in _SETTINGS and node.get("name") != value:
                _start_afresh(node, keys, value)
            elif last == "name" and keys[0] == "optim" and len(keys) <= 3 and node.get("name") != value:
                _start_afresh(node, keys, value, keep=lambda k, v: k in ENGINE_KEYS or isinstance(v, dict))
            node[last] = value
    return doc


# Sections of settings, whose tables are not parts: optim.name picks an optimizer, so its
# parameters start afresh, but the engine's keys beside them and the group tables stay.
_SETTINGS = ("train", "optim", "ema", "eval")


def _start_afresh(node: dict[str, Any], keys: list[str], value: Any,
                  keep: Callable[[str, Any], bool] = lambda key, _: key == "name") -> None:
    """``--set critic.name=dcgan``: the other part's parameters do not apply to this one,
    so the table starts afresh (keys set after it in the same command still apply); what
    ``keep`` says stays (an optimizer table's engine keys and group tables)."""
    dropped = sorted(k for k, v in node.items() if not keep(k, v))
    if not dropped:
        return
    where, optimizer = ".".join(keys[:-1]), keys[0] == "optim"
    old = repr(node["name"]) if "name" in node else f"{DEFAULT_OPTIMIZER!r} (the default)" if optimizer else "None"
    for k in dropped:
        del node[k]
    what = "optimizer parameters start afresh" if optimizer else "table starts afresh"
    warnings.warn(f"--set {where}.name={value}: the {where} {what}; dropped what was set for "
                  f"{old}: {', '.join(dropped)}", RecipeWarning, stacklevel=3)


def _index(key: str, node: list[Any], keys: list[str]) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise GancoreError(f"--set {'.'.join(keys)}: no item {key} (the list has {len(node)})")
    return int(key)


def _list_item(node: list[Any], key: str, keys: list[str]) -> Any:
    return node[_index(key, node, keys)]
