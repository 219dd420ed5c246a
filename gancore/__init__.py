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

from ._augment import Augment
from ._errors import DuplicateNameError, GancoreError, PluginError, PluginWarning, RecipeError, RecipeWarning, UnknownNameError
from ._guard import DivergenceError
from ._hooks import hookimpl, hookspec
from ._kinds import Kind
from ._params import Ref
from ._parts import (
    KINDS,
    AdversarialLoss,
    Batches,
    Build,
    Callback,
    Critic,
    DataSpec,
    Dataset,
    Features,
    Generator,
    ImageLoss,
    LatentGenerator,
    Metric,
    Normalization,
    Parameters,
    Regularizer,
    Scheme,
    Slot,
)
from ._plugins import PluginHost, build, host, registry, reload
from ._progress import Progress
from ._random import rand, randint, randn
from ._run import Run, create_run, load_run
from ._sampling import SampleRequest, side_by_side
from ._signals import Stopped
from ._steps import critic_rounds, critic_update, frozen, generator_loss, input_gradients
from ._updates import Updates

__version__ = "0.1.0"

__all__ = [
    "AdversarialLoss",
    "Augment",
    "Batches",
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
    "KINDS",
    "Kind",
    "LatentGenerator",
    "Metric",
    "Normalization",
    "Parameters",
    "PluginError",
    "PluginHost",
    "PluginWarning",
    "Progress",
    "RecipeError",
    "RecipeWarning",
    "Ref",
    "Regularizer",
    "Run",
    "SampleRequest",
    "Scheme",
    "Slot",
    "Stopped",
    "UnknownNameError",
    "Updates",
    "build",
    "create_run",
    "critic_rounds",
    "critic_update",
    "frozen",
    "generator_loss",
    "hookimpl",
    "hookspec",
    "host",
    "input_gradients",
    "load_run",
    "rand",
    "randint",
    "randn",
    "registry",
    "reload",
    "side_by_side",
]
