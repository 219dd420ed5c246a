"""The ``gancore`` command line."""

from ._app import app, main

# The commands register themselves on ``app`` when imported (in the order --help lists them).
from . import _inspect, _recipes, _train, _use, _interpolate, _project, _export, _measure, _report, _sweep, _new  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]
