"""Threads: steps/s of a small MLP GAN and of the default DCGAN with 1 thread and with
every core, alone and beside a second training process of the same kind, and with
OpenMP's threads spinning while they wait (the default) or sleeping (OMP_WAIT_POLICY=passive).

Each measurement is a fresh process (the thread count and wait policy are fixed when
torch starts): it builds the recipe, trains a few warm-up steps, then times the steps
that follow. "Beside" starts two such processes at once and reports their mean. The
cases alternate in rounds so that the machine's state affects all alike.

    python benchmarks/threads.py [--rounds 2] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, publish  # noqa: E402

MODELS = {"mlp (gan-ring)": ("gan-ring", 400, 100), "dcgan (dcgan-mnist)": ("dcgan-mnist", 40, 10)}

CHILD = """
import json, time, torch
import gancore
run = gancore.create_run({recipe!r}, overrides={{"train.device": "cpu", "train.steps": 10**6, "train.log_every": 10**6,
                                                "train.sample_every": 0, "train.checkpoint_every": 0, "eval.every": 0,
                                                "train.threads": {threads}}})
run.train({warm})
start = time.perf_counter()
run.train({warm} + {steps})
print(json.dumps({{"steps_per_s": {steps} / (time.perf_counter() - start), "threads": torch.get_num_threads()}}))
"""


def start(model: str, threads: int, policy: str) -> subprocess.Popen:
    recipe, steps, warm = MODELS[model]
    code = CHILD.format(recipe=recipe, steps=steps, warm=warm, threads=threads)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def rate(process: subprocess.Popen) -> float:
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(err[-3000:])
    found = json.loads(out.strip().splitlines()[-1])
    return float(found["steps_per_s"])


def measure(model: str, threads: int, together: int, policy: str) -> float:
    processes = [start(model, threads, policy) for _ in range(together)]
    return statistics.mean(rate(p) for p in processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cases = [(model, threads, together, policy)
             for model in MODELS for threads in sorted({1, cores}) for together in (1, 2)
             for policy in ("active", "passive") if not (threads == 1 and policy == "passive")]
    results: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for case in cases:
            results[case].append(measure(*case))
            print(case, f"{results[case][-1]:.1f} steps/s", flush=True)
    rows = ["| model | threads | OpenMP waits | alone, steps/s | beside a second process, steps/s each |",
            "| --- | ---: | --- | ---: | ---: |"]
    for model in MODELS:
        for threads in sorted({1, cores}):
            for policy in ("active", "passive"):
                if threads == 1 and policy == "passive":
                    continue
                alone = statistics.median(results[(model, threads, 1, policy)])
                beside = statistics.median(results[(model, threads, 2, policy)])
                wait = "spinning (default)" if policy == "active" else "sleeping (passive)"
                rows.append(f"| {model} | {threads} | {wait if threads > 1 else '-'} | {alone:.1f} | {beside:.1f} |")
    body = "\n".join(rows) + f"\n\nMedians of {args.rounds} rounds; {cores} cores."
    publish("threads", body, not args.no_write, None)


if __name__ == "__main__":
    main()
