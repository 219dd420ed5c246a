"""gancore: a pluggable component registry for training GANs.

The public surface; everything lives in small private modules and is re-exported here.
"""

from ._errors import DuplicateNameError, GancoreError, PluginError, UnknownNameError
from ._hooks import hookimpl, hookspec
from ._params import Ref
from ._parts import (
    KINDS,
    AdversarialLoss,
    Batches,
    Critic,
    DataSpec,
    Dataset,
    Features,
    Generator,
    ImageLoss,
    Metric,
    Normalization,
    Regularizer,
    Scheme,
    Slot,
)
from ._plugins import PluginHost, build, host, registry, reload
from ._run import Run, create_run, load_run
from ._steps import critic_update, frozen, optimizer_step

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "AdversarialLoss",
    "Batches",
    "Critic",
    "DataSpec",
    "Dataset",
    "DuplicateNameError",
    "Features",
    "GancoreError",
    "Generator",
    "ImageLoss",
    "Metric",
    "Normalization",
    "PluginError",
    "PluginHost",
    "Ref",
    "Regularizer",
    "Run",
    "Scheme",
    "Slot",
    "UnknownNameError",
    "build",
    "create_run",
    "critic_update",
    "frozen",
    "host",
    "hookimpl",
    "hookspec",
    "load_run",
    "optimizer_step",
    "registry",
    "reload",
]
