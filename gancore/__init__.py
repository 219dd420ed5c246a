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
    Generator,
    ImageLoss,
    Metric,
    Normalization,
    Regularizer,
    Scheme,
    Slot,
)
from ._plugins import PluginHost, build, host, registry, reload

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "AdversarialLoss",
    "Batches",
    "Critic",
    "DataSpec",
    "Dataset",
    "DuplicateNameError",
    "GancoreError",
    "Generator",
    "ImageLoss",
    "Metric",
    "Normalization",
    "PluginError",
    "PluginHost",
    "Ref",
    "Regularizer",
    "Scheme",
    "Slot",
    "UnknownNameError",
    "build",
    "host",
    "hookimpl",
    "hookspec",
    "registry",
    "reload",
]
