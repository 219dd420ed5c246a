"""The contract suite: one case per registered part and variant, each a call of a check.

``cases(plugin="relativistic")`` lists what ``pytest --gancore-plugin relativistic`` runs;
``check_part(kind, name)`` runs every case of one part. Networks are built for each
standard data spec they accept (``supports(spec)``), conditional and not where they offer
the choice, packed where they pack, and with every registered normalization where they
take one; a factory's ``examples`` (parameter tables, or a function giving them) replace
its defaults, for parts that have required parameters or whose defaults are slow.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .._errors import GancoreError
from .._params import Ref
from .._parts import DataSpec, Dataset
from .._plugins import registry as default_registry
from .._documents import load_source
from .._random import Random
from .._registry import Entry, Registry
from ._data import check_dataset, check_features, check_metric
from ._networks import check_augment, check_critic, check_generator
from ._objectives import check_image_loss, check_loss, check_normalization, check_optimizer, check_regularizer
from ._runs import TINY_RUN, check_callback, check_recipe, check_scheme
from ._contract import STANDARD_SPECS, ContractError, accepts, expect, fail


@dataclass(frozen=True)
class Case:
    """One contract check: ``run()`` raises ``ContractError`` naming the part when broken."""

    kind: str
    name: str
    plugin: str
    variant: str
    check: Callable[[], None]

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}" + (f"[{self.variant}]" if self.variant else "")

    def run(self) -> None:
        try:
            self.check()
        except ContractError:
            raise
        except Exception as exc:  # the part's own crash: still a broken contract, named
            where = f" [{self.variant}]" if self.variant else ""
            raise ContractError(f"{self.kind} {self.name!r} (plugin {self.plugin}){where}: raised "
                                f"{type(exc).__name__}: {exc}") from exc

    def __str__(self) -> str:
        return self.id


def examples(entry: Entry) -> list[dict[str, Any]]:
    """The parameter tables a part is checked with: its factory's ``examples``, or {}."""
    given = getattr(entry.factory, "examples", None)
    if given is None:
        return [{}]
    tables = given() if callable(given) else given
    return [dict(t) for t in tables] or [{}]


def _label(entry: Entry, detail: str = "") -> str:
    return f"{entry.kind} {entry.name!r} (plugin {entry.plugin})" + (f" {detail}" if detail else "")


def _build(reg: Registry, entry: Entry, params: dict[str, Any], label: str, **injected: Any) -> Any:
    try:
        return reg.build(entry.kind, entry.name, params, **injected)
    except GancoreError as exc:
        hint = " (a part that does not accept this data says so with supports(spec))" if "spec" in injected else ""
        fail(label, f"does not build with {params or 'its defaults'}: {exc}{hint}")


# ---------------------------------------------------------------- networks


def _conditional_choices(entry: Entry) -> list[Any]:
    field = entry.params.model_fields.get("conditional")
    if field is None:
        return [None]
    if field.annotation is bool:
        return [False, True]
    if typing.get_origin(field.annotation) is typing.Literal:
        return list(typing.get_args(field.annotation))
    return [None]


def _norm_parameters(entry: Entry) -> list[str]:
    return [name for name, field in entry.params.model_fields.items()
            if any(isinstance(m, Ref) and m.kind == "normalization" for m in field.metadata)]


def _network_check(reg: Registry, entry: Entry, spec_id: str, params: dict[str, Any], conditional: Any) -> Callable[[], None]:
    def check() -> None:
        import torch

        torch.manual_seed(0)
        spec = STANDARD_SPECS[spec_id]
        label = _label(entry, f"on {spec_id} {params}" if params else f"on {spec_id}")
        net = _build(reg, entry, params, label, spec=spec)
        if conditional is not None:
            wants = conditional not in (False, "none")
            expect(getattr(net, "num_classes", None) == (spec.num_classes if wants else None), label,
                   f"num_classes is {getattr(net, 'num_classes', None)!r} with conditional={conditional!r}")
        (check_generator if entry.kind == "generator" else check_critic)(net, spec, label=label)

    return check


def _with_normalization(reg: Registry, norm: Entry) -> Iterator[Case]:
    """Every registered network that takes a normalization, built with this one: what a
    normalization plugin must be tested on (its own cases are kind ``normalization``)."""
    for entry in [*reg.entries("generator"), *reg.entries("critic")]:
        specs = [s for s, spec in STANDARD_SPECS.items() if accepts(entry.factory, spec)]
        for param in _norm_parameters(entry):
            for spec_id in [s for s in ("points", "mnist") if s in specs] or specs[:1]:
                params = examples(entry)[0] | {param: norm.name}
                yield Case(norm.kind, norm.name, norm.plugin, f"{entry.kind}-{entry.name}-{spec_id}-{param}",
                           _network_check(reg, entry, spec_id, params, None))


def _network_cases(reg: Registry, entry: Entry) -> Iterator[Case]:
    specs = [s for s, spec in STANDARD_SPECS.items() if accepts(entry.factory, spec)]
    if not specs:
        yield Case(entry.kind, entry.name, entry.plugin, "specs", lambda: fail(
            _label(entry), f"supports none of the standard data specs ({', '.join(STANDARD_SPECS)})"))
        return
    for base in examples(entry):
        tag = f"{base}-" if base else ""
        for spec_id in specs:
            for cond in _conditional_choices(entry):
                params = base | ({} if cond is None else {"conditional": cond})
                yield Case(entry.kind, entry.name, entry.plugin, f"{tag}{spec_id}" + ("" if cond is None else f"-conditional={cond}"),
                           _network_check(reg, entry, spec_id, params, cond))
            if entry.kind == "critic" and "pack" in entry.params.model_fields:
                yield Case(entry.kind, entry.name, entry.plugin, f"{tag}{spec_id}-pack=2",
                           _network_check(reg, entry, spec_id, base | {"pack": 2}, None))
        # Every normalization, on points and on images where the network takes them.
        for param in _norm_parameters(entry):
            for spec_id in [s for s in ("points", "mnist") if s in specs] or specs[:1]:
                for norm in reg.names("normalization"):
                    yield Case(entry.kind, entry.name, entry.plugin, f"{tag}{spec_id}-{param}={norm}",
                               _network_check(reg, entry, spec_id, base | {param: norm}, None))


# ---------------------------------------------------------------- everything else


def _simple(reg: Registry, entry: Entry, params: dict[str, Any], checker: Callable[..., None]) -> Callable[[], None]:
    def check() -> None:
        label = _label(entry, str(params) if params else "")
        # A part that asks for the data's spec gets the first standard one it accepts.
        spec = next((s for s in STANDARD_SPECS.values() if accepts(entry.factory, s)), None)
        checker(_build(reg, entry, params, label, **({"spec": spec} if spec is not None else {})), label=label)

    return check


def _features_check(reg: Registry, entry: Entry, params: dict[str, Any], spec_id: str) -> Callable[[], None]:
    def check() -> None:
        label = _label(entry, f"on {spec_id}")
        check_features(_build(reg, entry, params, label), STANDARD_SPECS[spec_id], label=label)

    return check


_built_datasets: dict[int, tuple[Registry, dict[str, Dataset]]] = {}


def _datasets(reg: Registry) -> dict[str, Dataset]:
    """Every registered dataset that builds from its defaults or first example: the real
    data metrics are checked on (built once per registry)."""
    if id(reg) in _built_datasets and _built_datasets[id(reg)][0] is reg:
        return _built_datasets[id(reg)][1]
    out: dict[str, Dataset] = {}
    for entry in reg.entries("dataset"):
        try:
            data = reg.build("dataset", entry.name, examples(entry)[0])
        except Exception:  # noqa: BLE001 - its own contract case reports it
            continue
        if isinstance(data, Dataset):
            out[entry.name] = data
    _built_datasets[id(reg)] = (reg, out)
    return out


#: Real samples in each half a metric's contract compares: enough to tell data from noise,
#: few enough that a metric in a large feature space (Inception-v3) checks in seconds.
METRIC_HALF = 100


def _metric_check(reg: Registry, entry: Entry, params: dict[str, Any]) -> Callable[[], None]:
    def check() -> None:
        label = _label(entry)
        metric = _build(reg, entry, params, label)
        shapes: dict[tuple[int, ...], str] = {}
        for name, data in _datasets(reg).items():
            # Run by default on the data, or able to score it when named (the built metric
            # says), where the data has two halves to compare (not a dataset's tiny example).
            fits = type(metric).applies_to(data.spec) or (hasattr(metric, "supports") and metric.supports(data.spec))
            if fits and len(data) >= 2 * METRIC_HALF:
                shapes.setdefault(tuple(data.spec.shape), name)
        expect(shapes, label, "applies to none of the installed datasets (applies_to(spec), or supports(spec) "
               "for a metric run only when named, is False for all)")
        datasets = _datasets(reg)
        for name in shapes.values():
            check_metric(metric, datasets[name], label=f"{label} on dataset {name!r}", n=METRIC_HALF)

    return check


def _scheme_source(reg: Registry, entry: Entry) -> tuple[str, Any]:
    """A recipe that uses the scheme (its own plugin's first), else the tiny run with it."""
    using = []
    for recipe in reg.recipes.values():
        try:
            _, doc = load_source(recipe.name, reg)
        except GancoreError:
            continue
        scheme = doc.get("scheme", "adversarial")
        if (scheme if isinstance(scheme, str) else scheme.get("name", "adversarial")) == entry.name:
            using.append((recipe.plugin != entry.plugin, recipe.name))
    if using:
        return f"recipe {min(using)[1]!r}", min(using)[1]
    return "the kit's tiny run", {**TINY_RUN, "scheme": {"name": entry.name}}


def _scheme_check(reg: Registry, entry: Entry) -> Callable[[], None]:
    def check() -> None:
        where, source = _scheme_source(reg, entry)
        check_scheme(source, registry=reg, label=_label(entry, f"trained through {where}"))

    return check


def _optimizer_check(reg: Registry, entry: Entry, params: dict[str, Any]) -> Callable[[], None]:
    def check() -> None:
        label = _label(entry, str(params) if params else "")
        check_optimizer(lambda weights: _build(reg, entry, params, label, parameters=weights), label=label)

    return check


def _callback_check(reg: Registry, entry: Entry, params: dict[str, Any]) -> Callable[[], None]:
    def check() -> None:
        label = _label(entry)
        check_callback(_build(reg, entry, params, label), registry=reg, label=label)

    return check


def _augment_check(reg: Registry, entry: Entry, params: dict[str, Any], spec_id: str) -> Callable[[], None]:
    def check() -> None:
        label = _label(entry, f"on {spec_id}")
        spec, random = STANDARD_SPECS[spec_id], Random(torch.Generator().manual_seed(0))
        check_augment(_build(reg, entry, params, label, spec=spec, random=random), spec, label=label, random=random)

    return check


def _builds(reg: Registry, entry: Entry, params: dict[str, Any], spec_id: str | None) -> Callable[[], None]:
    def check() -> None:
        injected = {} if spec_id is None else {"spec": STANDARD_SPECS[spec_id]}
        _build(reg, entry, params, _label(entry, f"on {spec_id}" if spec_id else ""), **injected)

    return check


SIMPLE_CHECKS: dict[str, Callable[..., None]] = {
    "loss": check_loss,
    "regularizer": check_regularizer,
    "normalization": check_normalization,
    "image-loss": check_image_loss,
    "dataset": check_dataset,
}


def _schedulable_check(reg: Registry, entry: Entry) -> Callable[[], None]:
    """A part that declares parameters schedulable keeps each as an attribute of the same
    name, holding the value it was built with: what a ``[schedule]`` sets before each step."""
    def check() -> None:
        label = _label(entry, "schedulable")
        try:
            names = entry.schedulable
        except TypeError as exc:
            fail(label, str(exc))
        params = examples(entry)[0]
        spec = next((s for s in STANDARD_SPECS.values() if accepts(entry.factory, s)), None)
        injected: dict[str, Any] = {"random": Random(torch.Generator().manual_seed(0))}
        if spec is not None:
            injected["spec"] = spec
        part = _build(reg, entry, params, label, **injected)
        given = entry.params.model_validate(params)
        for name in names:
            expect(hasattr(part, name), label, f"declares {name!r} schedulable but keeps no attribute {name!r}: "
                   "a schedule sets that attribute before each step, and the part must read it at each use")
            expect(getattr(part, name) == getattr(given, name), label,
                   f"attribute {name!r} is {getattr(part, name)!r}, not the value it was built with ({getattr(given, name)!r})")

    return check


def part_cases(entry: Entry, registry: Registry | None = None) -> Iterator[Case]:
    reg = registry or default_registry()
    if getattr(entry.factory, "schedulable", None):
        yield Case(entry.kind, entry.name, entry.plugin, "schedulable", _schedulable_check(reg, entry))
    if entry.kind in ("generator", "critic"):
        yield from _network_cases(reg, entry)
        return
    if entry.kind == "scheme":
        yield Case(entry.kind, entry.name, entry.plugin, "resume", _scheme_check(reg, entry))
        return
    for params in examples(entry):
        tag = str(params) if params else ""
        if entry.kind in SIMPLE_CHECKS:
            yield Case(entry.kind, entry.name, entry.plugin, tag, _simple(reg, entry, params, SIMPLE_CHECKS[entry.kind]))
        elif entry.kind == "features":
            for spec_id, spec in STANDARD_SPECS.items():
                if accepts(entry.factory, spec):
                    yield Case(entry.kind, entry.name, entry.plugin, f"{tag}{spec_id}",
                               _features_check(reg, entry, params, spec_id))
        elif entry.kind == "metric":
            yield Case(entry.kind, entry.name, entry.plugin, tag, _metric_check(reg, entry, params))
        elif entry.kind == "optimizer":
            yield Case(entry.kind, entry.name, entry.plugin, tag, _optimizer_check(reg, entry, params))
        elif entry.kind == "callback":
            yield Case(entry.kind, entry.name, entry.plugin, tag, _callback_check(reg, entry, params))
        elif entry.kind == "augment":
            for spec_id, spec in STANDARD_SPECS.items():
                if accepts(entry.factory, spec):
                    yield Case(entry.kind, entry.name, entry.plugin, f"{tag}{spec_id}", _augment_check(reg, entry, params, spec_id))
        else:  # a plugin's own kind: the kit knows only that its parts build (as its interface)
            specs = [s for s, spec in STANDARD_SPECS.items() if accepts(entry.factory, spec)]
            for on_spec in specs if hasattr(entry.factory, "supports") else [None]:
                yield Case(entry.kind, entry.name, entry.plugin, f"{tag}{on_spec or ''}", _builds(reg, entry, params, on_spec))


def cases(plugin: str | None = None, registry: Registry | None = None) -> list[Case]:
    """Every contract case of the parts (and recipes) that ``plugin`` registers, or of
    everything registered when ``plugin`` is None or ``"all"``."""
    reg = registry or default_registry()
    every = plugin in (None, "all")
    out = [case for entry in reg.entries() if every or entry.plugin == plugin for case in part_cases(entry, reg)]
    if not every:  # a plugin's normalization in every network (the full registry checks that already)
        for norm in reg.entries("normalization"):
            if norm.plugin == plugin:
                out.extend(_with_normalization(reg, norm))
    for recipe in sorted(reg.recipes.values(), key=lambda r: r.name):
        if every or recipe.plugin == plugin:
            out.append(Case("recipe", recipe.name, recipe.plugin, "", _recipe_check(reg, recipe.name)))
    return out


def _recipe_check(reg: Registry, recipe: str) -> Callable[[], None]:
    def check() -> None:
        check_recipe(recipe, registry=reg, overrides=_user_data(reg, recipe))

    return check


def _user_data(reg: Registry, recipe: str) -> dict[str, Any]:
    """What a recipe leaves to its user or to a download, such as the folder of an
    ``image-folder`` dataset or CIFAR-10's archive: the values of the dataset's first
    example (``data.root``) that the recipe does not set, as overrides. The kit has no
    network and no copy of the real data."""
    _, doc = load_source(recipe, reg)
    data = doc.get("data", {})
    if not isinstance(data, dict) or (("dataset", data.get("name")) not in reg.parts):
        return {}
    example = examples(reg.get("dataset", data["name"]))[0]
    missing = [k for k in example if k not in data]
    if not missing:
        return {}
    # An example dataset is small: a few samples per batch.
    return {f"data.{k}": example[k] for k in missing} | {"train.batch_size": 4}


def check_part(kind: str, name: str, *, registry: Registry | None = None) -> None:
    """Run every contract case of one registered part; the first broken one raises."""
    reg = registry or default_registry()
    for case in part_cases(reg.get(kind, name), reg):
        case.run()


__all__ = ["Case", "ContractError", "DataSpec", "cases", "check_part", "examples"]
