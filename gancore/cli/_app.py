"""The Typer application: global options, error handling, and the commands' registration."""

from __future__ import annotations

import os
import signal
import warnings
from typing import TYPE_CHECKING, Annotated, Any, Optional, TextIO

import typer
from typer.core import TyperGroup

from .._errors import DivergenceError, GancoreError, RecipeWarning
from ._output import error, warn

if TYPE_CHECKING:
    # typer carries its own copy of click; its Context is the one a TyperGroup is given.
    from typer._click import Context


class _Group(TyperGroup):
    """Turns user errors into one ``error:`` message on stderr (a line, or a recipe's list of
    errors) and exit code 2, a diverged run into exit code 3 (a traceback instead with
    GANCORE_DEBUG=1)."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except GancoreError as exc:
            if os.environ.get("GANCORE_DEBUG"):
                raise
            code = getattr(exc, "exit_code", 3 if isinstance(exc, DivergenceError) else 2)
            message = _for_this_process(exc)
            if message is not None:
                error(message)
            raise typer.Exit(code) from None
        except OSError as exc:  # the file system said no: permission, not a directory, disk full
            if os.environ.get("GANCORE_DEBUG"):
                raise
            where = f" {exc.filename}" if exc.filename else ""
            error(f"cannot write or read{where}: {exc.strerror or exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # click would print "Aborted!" and exit 1
            error("interrupted")
            raise typer.Exit(130) from None


def _for_this_process(exc: GancoreError) -> str | None:
    """The error line this process prints: in a job of several processes the first one
    speaks for all (the others met the same error, or followed it); a lost peer is left
    to the launcher when ``gancore train --nproc`` started the job."""
    from .._distributed import JobError, PeerFailed, topology

    where = topology()
    if not where.distributed:
        return str(exc)
    if isinstance(exc, PeerFailed):
        return None if os.environ.get("GANCORE_LAUNCHED") else str(exc)
    if where.rank == 0:
        return str(exc)
    if isinstance(exc, (JobError, DivergenceError)):
        return None
    return f"process {where.rank} of {where.world}: {exc}"


_default_show_warning = warnings.showwarning

app = typer.Typer(
    cls=_Group,
    name="gancore",
    help="Compose registered GAN parts into recipes, train them, sample and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        import gancore

        typer.echo(f"gancore {gancore.__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    block: Annotated[
        Optional[list[str]],
        typer.Option("--block", metavar="PLUGIN", help="Do not load this plugin (repeatable); also GANCORE_BLOCK_PLUGINS=a,b."),
    ] = None,
    no_autoload: Annotated[
        bool,
        typer.Option("--no-autoload", help="Load only the first-party plugins; also GANCORE_DISABLE_PLUGIN_AUTOLOAD=1."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print gancore's version and exit."),
    ] = False,
) -> None:
    """gancore: a pluggable component registry for training GANs.

    Set GANCORE_DEBUG=1 to see tracebacks, GANCORE_STRICT_PLUGINS=1 to make a failing
    plugin an error.
    """
    warnings.showwarning = _show_warning
    # Every command says what its --set dropped, also when the same process ran it before.
    warnings.filterwarnings("always", category=RecipeWarning)
    if block or no_autoload:
        import gancore

        host = gancore.reload(block=set(block or ()), autoload=False if no_autoload else None)
        for name in sorted(set(block or ()) - set(host.plugins)):
            warn(f"--block {name}: no plugin of that name is installed (see gancore plugins)")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """gancore's own warnings as one ``warning:`` line; others as Python shows them."""
    from .._checkpoint import CheckpointWarning

    from .._errors import PluginWarning, RecipeWarning

    if issubclass(category, PluginWarning):
        return  # plugin_warnings() prints a line per failed plugin
    if issubclass(category, (CheckpointWarning, RecipeWarning)):
        warn(str(message))
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # started: Ctrl-C as usual again
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C while starting up (importing torch, loading plugins)
        error("interrupted")
        raise SystemExit(130) from None
