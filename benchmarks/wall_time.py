"""Where the default run's wall time goes: `gancore train` with no arguments, in a fresh
process, split into start-up (importing gancore and its plugins; reading the recipe,
the data and building the networks), the training steps, the EMA updates, the metric
lines, the sample grids, the checkpoints and the final samples.

The split comes from timers wrapped around the engine's own calls for this measurement
only (the run itself is the README's command: the default recipe, its own steps).

    python benchmarks/wall_time.py [--threads 2] [--steps N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, publish  # noqa: E402

CHILD = r"""
import json, sys, tempfile, time
start = time.perf_counter()
import torch
torch.set_num_threads({threads})
import gancore
from gancore import _run
from torch.optim.swa_utils import AveragedModel
imported = time.perf_counter()
spent = {{"ema": 0.0, "metric lines": 0.0, "sample grids": 0.0, "checkpoints": 0.0}}

def timed(owner, name, key):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - t
    setattr(owner, name, wrapper)

timed(AveragedModel, "update_parameters", "ema")
timed(_run.Run, "_metrics_row", "metric lines")
timed(_run.Run, "save_samples", "sample grids")
timed(_run.Run, "save_checkpoint", "checkpoints")
overrides = {{"train.steps": {steps}}} if {steps} else {{}}
run = gancore.create_run(gancore._recipe.DEFAULT_RECIPE, overrides=overrides, out=tempfile.mkdtemp() + "/run")
len(run.dataset)
built = time.perf_counter()
run.train()
trained = time.perf_counter()
t = time.perf_counter(); run.sample(64); final = time.perf_counter() - t
print(json.dumps({{"import": imported - start, "build": built - imported, "loop": trained - built, "final": final,
                  "steps": run.step, **spent}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="train this many steps instead of the recipe's")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run([sys.executable, "-c", CHILD.format(threads=args.threads, steps=args.steps)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    found = json.loads(done.stdout.strip().splitlines()[-1])
    parts = ("ema", "metric lines", "sample grids", "checkpoints")
    steps_only = found["loop"] - sum(found[p] for p in parts)
    total = found["import"] + found["build"] + found["loop"] + found["final"]
    rows = [("start-up: importing gancore and its plugins", found["import"]),
            ("start-up: the recipe, the data, the networks", found["build"]),
            (f"training steps ({found['steps']})", steps_only),
            ("EMA updates", found["ema"]), ("metric lines", found["metric lines"]),
            ("sample grids", found["sample grids"]), ("checkpoints", found["checkpoints"]),
            ("64 final samples", found["final"])]
    lines = ["| part | seconds | share |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {seconds:.1f} | {100 * seconds / total:.1f}% |" for name, seconds in rows]
    lines.append(f"| **total** | **{total:.1f}** | |")
    body = "\n".join(lines) + f"\n\n{found['steps'] / steps_only:.1f} training steps/s."
    publish("wall-time", body, not args.no_write, args.threads)


if __name__ == "__main__":
    main()
