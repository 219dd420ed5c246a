"""The sweep file's ``[sampler]`` and ``[pruner]``: Optuna's own classes by a short name,
their parameters checked against the class's signature (an unknown one is refused,
never dropped) and their values by building them."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna

from .._errors import GancoreError, unknown_name_message

SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
    "grid": optuna.samplers.GridSampler,
}

PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive-halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}

# What the sweep gives these classes itself: the grid sampler's grid comes from [space].
_SUPPLIED = {"search_space"}


def split_part(raw: Any, section: str) -> tuple[str, dict[str, Any]]:
    """``"tpe"`` or ``{ name = "tpe", seed = 1 }`` -> (name, parameters)."""
    if isinstance(raw, str):
        return raw, {}
    if not isinstance(raw, Mapping):
        raise GancoreError(f"{section}: a name, or a table with a name and parameters")
    params = dict(raw)
    name = params.pop("name", None)
    if not isinstance(name, str):
        raise GancoreError(f"{section}.name: missing; which {section} to use ({', '.join(_known(section))})")
    return name, params


def _known(section: str) -> dict[str, Callable[..., Any]]:
    return dict(SAMPLERS) if section == "sampler" else dict(PRUNERS)


def build_part(section: str, name: str, params: Mapping[str, Any], **supplied: Any) -> Any:
    """The sampler or pruner ``name`` with ``params``; one line naming what is wrong."""
    known = _known(section)
    if name not in known:
        raise GancoreError(f"{section}.name: {unknown_name_message(section, name, known)}")
    factory = known[name]
    accepted = [p for p in inspect.signature(factory).parameters if p not in _SUPPLIED and p != "self"]
    for key in params:
        if key not in accepted:
            raise GancoreError(f"{section}.{key}: Optuna's {name} {section} takes no parameter {key!r} "
                               f"(it takes: {', '.join(accepted)})")
    try:
        with warnings.catch_warnings():  # a few samplers are marked experimental: the docs say which
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factory(**params, **supplied)
    except ImportError as exc:  # a sampler whose package is not installed (cmaes, scipy)
        raise GancoreError(f"{section} {name!r} needs a package that is not installed: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise GancoreError(f"{section} {name!r}: {exc}") from None
