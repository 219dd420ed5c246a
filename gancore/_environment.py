"""Where a run trained: the versions, the device, the processes and threads of each
training session, appended to ``RUN/environment.json`` when the session starts.

A report (``gancore report``) shows them next to the run's speed: a number of steps per
second means little without the machine and the versions that made it. The file is a list,
one entry per session, because a resumed run may continue on another machine.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

ENVIRONMENT_FILE = "environment.json"


def describe(device: torch.device, processes: int, plugins: dict[str, str]) -> dict[str, Any]:
    """This process's environment as plain values: what a later reader needs to compare
    two runs' speeds (``plugins``: each loaded plugin's name and version)."""
    import gancore

    about: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "gancore": gancore.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "processes": processes,
        "threads": torch.get_num_threads(),
        "plugins": dict(sorted(plugins.items())),
    }
    if device.type == "cuda":
        about["device_name"] = torch.cuda.get_device_name(device)
        about["cuda"] = torch.version.cuda
    return about


def record_session(folder: Path, step: int, about: dict[str, Any]) -> None:
    """Append this session (starting at ``step``) to the run's environment file, atomically;
    an unreadable file left by something else is started afresh rather than failing a run."""
    sessions = read_sessions(folder)
    sessions.append({"step": step, **about})
    path = folder / ENVIRONMENT_FILE
    tmp = path.with_name(f".{ENVIRONMENT_FILE}.tmp")
    tmp.write_text(json.dumps(sessions, indent=1) + "\n")
    os.replace(tmp, path)


def read_sessions(folder: Path) -> list[dict[str, Any]]:
    """The sessions recorded in ``folder`` (none for a run trained before they were kept,
    or a file that does not hold a list of objects)."""
    try:
        data = json.loads((folder / ENVIRONMENT_FILE).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    return [s for s in data if isinstance(s, dict)]
