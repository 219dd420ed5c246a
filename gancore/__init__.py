"""gancore: a pluggable component registry for training GANs.

The public surface; everything lives in small private modules and is re-exported here.
"""

import os as _os
import signal as _signal
import sys as _sys

if _os.path.basename(_sys.argv[0] if _sys.argv else "") == "gancore":
    # Started as the `gancore` command: Ctrl-C while torch and the plugins are still
    # importing ends quietly; gancore.cli.main() puts Python's own handler back.
    def _interrupted_while_starting(signum: int, frame: object) -> None:
        _sys.stderr.write("error: interrupted\n")
        _os._exit(130)

    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

from ._evaluate import Features, LatentGenerator, Metric
from ._errors import DivergenceError, DuplicateNameError, GancoreError, PluginError, PluginWarning, RecipeError, RecipeWarning, UnknownNameError
from ._hooks import hookimpl, hookspec
from ._image_store import cache_dir, stored_images
from ._export import export_generator
from ._load import load_generator
from ._registry import Kind
from ._params import Ref
from ._parts import (
    KINDS,
    AdversarialLoss,
    Augment,
    Build,
    Callback,
    Critic,
    DataSpec,
    Dataset,
    Generator,
    ImageLoss,
    Normalization,
    Parameters,
    Regularizer,
    Scheme,
    Slot,
)
from ._plugins import PluginHost, build, host, registry, reload
from ._projection import Projection, project
from ._session import Progress, Stopped
from ._random import Random
from ._run import Run, create_run, load_run
from ._parts import SampleRequest, as_float, side_by_side
from ._statistics import Statistics, load_statistics, save_statistics
from ._step import Judge, Step, frozen, input_gradients

__version__ = "0.1.0"

__all__ = [
    "AdversarialLoss",
    "Augment",
    "Build",
    "Callback",
    "Critic",
    "DataSpec",
    "Dataset",
    "DivergenceError",
    "DuplicateNameError",
    "Features",
    "GancoreError",
    "Generator",
    "ImageLoss",
    "Judge",
    "KINDS",
    "Kind",
    "LatentGenerator",
    "Metric",
    "Normalization",
    "Parameters",
    "PluginError",
    "PluginHost",
    "PluginWarning",
    "Projection",
    "Progress",
    "RecipeError",
    "RecipeWarning",
    "Random",
    "Ref",
    "Regularizer",
    "Run",
    "SampleRequest",
    "Scheme",
    "Slot",
    "Statistics",
    "Step",
    "Stopped",
    "UnknownNameError",
    "as_float",
    "build",
    "cache_dir",
    "create_run",
    "export_generator",
    "frozen",
    "hookimpl",
    "hookspec",
    "host",
    "input_gradients",
    "load_generator",
    "load_run",
    "load_statistics",
    "project",
    "registry",
    "reload",
    "save_statistics",
    "side_by_side",
    "stored_images",
]
