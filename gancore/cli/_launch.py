"""``gancore train --nproc N``: start N training processes on this machine with PyTorch's
own launcher (``torch.distributed.run``, what ``torchrun --standalone`` runs), and turn
its outcome into one line and an exit code."""

from __future__ import annotations

import logging
import os
import signal

from .._distributed import PeerFailed
from .._errors import GancoreError
from ._output import error

SHUTDOWN_SECONDS = 120


def _threads_per_process(nproc: int) -> int:
    return max(1, (os.cpu_count() or 1) // nproc)


def launch(nproc: int, argv: list[str], *, out: str) -> int:
    """Run ``python -m gancore ARGV`` in ``nproc`` processes; returns the exit code.

    The processes print their own progress and errors (the first one only); this adds a
    line only when a process ended without saying why (killed, or a crash)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    # Each process gets its share of the cores (torchrun's default is one thread each).
    os.environ.setdefault("OMP_NUM_THREADS", str(_threads_per_process(nproc)))
    # The launcher forwards these to the processes, which stop after the step (SIGUSR1 is
    # SLURM's --signal; torch's default list leaves it out and would die of it).
    os.environ.setdefault("TORCHELASTIC_SIGNALS_TO_HANDLE", "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1")
    os.environ["GANCORE_LAUNCHED"] = "1"  # the processes leave reporting a lost peer to this launcher
    # The launcher's own log lines ("Received 2 death signal", "Sending process N closing
    # signal"): each of its loggers has a level of its own.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic") or name.startswith("torch.distributed.launcher"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    args = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0", "-m", "gancore", *argv])
    args.rdzv_backend, args.rdzv_endpoint = "c10d", "localhost:0"
    args.rdzv_id = f"gancore-{os.getpid()}"
    config, cmd, cmd_args = config_from_args(args)
    # Time the processes get, after a stop signal, to finish the step and save (then SIGKILL).
    config.shutdown_timeout = SHUTDOWN_SECONDS
    resume = f"gancore train --out {out} --resume --nproc {nproc}"
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except ChildFailedError as exc:
        # The first process that failed of its own accord. The others end with PeerFailed's
        # code when they find it gone, or die of the SIGTERM the launcher then sends them
        # (failure times are whole seconds, so ties are common).
        consequences = (PeerFailed.exit_code, -signal.SIGTERM)
        failures = sorted((f.timestamp, rank, f) for rank, f in exc.failures.items())
        own = [x for x in failures if x[2].exitcode not in consequences] or [
            x for x in failures if x[2].exitcode != PeerFailed.exit_code]
        if not own:
            error(f"the {nproc} processes lost each other (a network or rendezvous failure); the job was stopped. "
                  f"Continue from the newest checkpoint with: {resume}")
            return PeerFailed.exit_code
        _, rank, failure = own[0]
        code = failure.exitcode
        spoke = code in (2, 3) or code > 128  # a user error, a divergence, a stop: the process said so
        if spoke:
            return code
        how = f"was killed by {failure.signal_name()}" if code < 0 else f"ended with exit code {code}"
        error(f"process {rank} of {nproc} {how}; the job was stopped. Continue from the newest checkpoint with: {resume}")
        return 128 - code if code < 0 else 1
    except SignalException as exc:  # the processes got the signal too, saved and said so
        return 128 + int(exc.sigval)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as exc:  # noqa: BLE001 - the launcher itself failed (rendezvous, ports)
        if os.environ.get("GANCORE_DEBUG"):
            raise
        lines = str(exc).strip().splitlines()
        raise GancoreError(f"could not start {nproc} processes: {lines[0] if lines else type(exc).__name__}") from None
    return 0


def already_launched() -> bool:
    """Whether this process is one of a job's (torchrun set WORLD_SIZE)."""
    return "WORLD_SIZE" in os.environ

