"""A recipe's parts built and wired into its scheme: the slots' parts (or the Python
objects given for them), the scheme holding them, parts with state of their own kept
where checkpoints see them, and the augmentation in front of the critic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ._distributed import JobError
from ._errors import GancoreError
from ._parts import Augment, DataSpec, Scheme
from ._random import Random
from ._recipe import Recipe
from ._registry import Registry
from ._step import Augmentation


def build_scheme(recipe: Recipe, registry: Registry, spec: DataSpec, random: Random) -> tuple[Scheme, dict[str, Any]]:
    """The recipe's scheme with every slot filled, on the CPU, and the parts built for it by
    their place in the recipe (``loss``, ``regularizers.0``, ``augment.1``): where the
    recipe's schedules set their values."""
    built: dict[str, Any] = {}
    for slot_name, value in recipe.slots.items():
        if slot_name in recipe.objects:
            built[slot_name] = recipe.objects[slot_name]
        elif isinstance(value, list):
            built[slot_name] = [registry.build(k, n, p, spec=spec, random=random) for k, n, p in value]
        elif value is not None:
            kind, name, params = value
            built[slot_name] = registry.build(kind, name, params, spec=spec, random=random)
        else:
            built[slot_name] = None
    _, scheme_name, scheme_params = recipe.scheme
    scheme = registry.build("scheme", scheme_name, scheme_params, spec=spec, random=random, **built)
    if not isinstance(scheme, Scheme):
        raise TypeError(f"scheme {scheme_name!r} did not build a gancore.Scheme")
    keep_part_state(scheme, built)
    places: dict[str, Any] = {}
    for slot_name, value in built.items():
        if isinstance(value, list):
            places |= {f"{slot_name}.{i}": part for i, part in enumerate(value)}
        else:
            places[slot_name] = value
    if recipe.augments:
        if not any(slot.kind == "critic" for slot in scheme.slots.values()):
            raise GancoreError(f"[[augment]]: scheme {type(scheme).__name__} has no critic to augment the inputs of")
        augments = [registry.build(kind, name, params, spec=spec, random=random) for kind, name, params in recipe.augments]
        for part, (_, name, _) in zip(augments, recipe.augments):
            if not isinstance(part, Augment):
                raise TypeError(f"augment {name!r} did not build a gancore.Augment")
        scheme.augmentation = Augmentation(augments)  # a submodule: its state is checkpointed
        places |= {f"augment.{i}": part for i, part in enumerate(augments)}
    return scheme, places


def keep_part_state(scheme: Scheme, built: Mapping[str, Any]) -> None:
    """Parts with state of their own (``nn.Module`` regularizers with moving averages, ...)
    that the scheme holds outside its submodules (in a plain list) become submodules of
    ``scheme.parts``, so every checkpoint has their state and a resume restores it."""
    inside = {id(m) for m in scheme.modules()}
    stateful: dict[str, nn.Module] = {}
    for slot, value in built.items():
        parts = value if isinstance(value, list) else [value]
        modules = [p for p in parts if isinstance(p, nn.Module) and id(p) not in inside]
        if modules:
            stateful[slot] = nn.ModuleList(modules) if isinstance(value, list) else modules[0]
    if stateful:
        scheme.parts = nn.ModuleDict(stateful)


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with its 4-D parameters and buffers (convolution weights) in channels-last
    memory format, in place (``train.channels_last``); the rest as they are. The parameters
    stay the same objects and their values and state_dict keys the same: a checkpoint
    loads whichever format either side has.

    ``to``, not ``contiguous``: a weight with one input channel (an image network's first
    convolution on grey images) is contiguous in either format, and ``contiguous`` would
    leave its strides saying the ordinary one, which the convolution then takes for its
    format (PyTorch reads a tensor's format from its strides)."""
    module._apply(lambda t: t.to(memory_format=torch.channels_last) if t.dim() == 4 else t)
    return module


def check_pack(scheme: Scheme, batch_size: int, world: int) -> None:
    """A packing critic scores groups of ``pack`` samples: each process's share of the
    batch must split into whole groups."""
    local = batch_size // world
    for module in scheme.modules():
        pack = getattr(module, "pack", 1)
        if isinstance(pack, int) and pack > 1 and local % pack:
            share = f" (each of {world} processes gets {local})" if world > 1 else ""
            raise JobError(f"train.batch_size: {batch_size}{share} is not divisible by the critic's pack size {pack}")
