"""Speed of training in one process against two (DDP over gloo on the CPU, or nccl on
GPUs), at the same global batch: what `gancore train --nproc 2` gains.

Each configuration is a real `gancore train` run in fresh processes; its speed is the
median of the logged steps per second after the first logging interval (start-up,
first-touch allocations). The configurations alternate in rounds, so that the machine's
state affects all alike. On a CPU the cores are shared out: one process with every
thread, one process with one thread per process's share, and N processes with that share
each. Scaling efficiency is N processes' speed over N times one process's on the same
share of the cores.

    python benchmarks/distributed.py [--rounds 3] [--steps 300] [--nproc 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import publish  # noqa: E402

CASES = {
    # name: (recipe, overrides, what it stresses)
    "mlp-ring": ("gan-ring", ["data.num_samples=20000"], "MLPs on 2D points, batch 256: overhead-bound"),
    "dcgan-mnist": ("dcgan-mnist", ["eval.every=0"], "DCGAN on 28x28 MNIST, batch 64: compute-bound"),
}


def speed(recipe: str, overrides: list[str], nproc: int, threads: int, steps: int, log_every: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        sets = [f"train.steps={steps}", f"train.log_every={log_every}", "train.sample_every=0",
                "train.checkpoint_every=0", *overrides]
        command = [sys.executable, "-m", "gancore", "train", recipe, "--out", str(out), "--nproc", str(nproc)]
        for s in sets:
            command += ["--set", s]
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        env["OMP_NUM_THREADS"] = str(threads)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["steps_per_sec"] for r in rows[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    share = max(1, cores // args.nproc)
    configs = {  # name: (processes, threads each)
        f"1 process, {cores} threads": (1, cores),
        f"1 process, {share} thread(s)": (1, share),
        f"{args.nproc} processes, {share} thread(s) each": (args.nproc, share),
    }
    log_every = max(10, args.steps // 6)
    results: dict[str, dict[str, list[float]]] = {c: {k: [] for k in configs} for c in args.cases}
    for r in range(args.rounds):
        for case in args.cases:
            recipe, overrides, _ = CASES[case]
            for name, (nproc, threads) in configs.items():
                s = speed(recipe, overrides, nproc, threads, args.steps, log_every)
                results[case][name].append(s)
                print(f"round {r + 1}  {case:12s} {name:32s} {s:8.1f} steps/s", flush=True)

    names = list(configs)
    header = "| model | what it stresses | " + " | ".join(names) + " | scaling efficiency |"
    lines = [header, "| --- | --- | " + " | ".join("---:" for _ in names) + " | ---: |"]
    for case in args.cases:
        med = {k: statistics.median(v) for k, v in results[case].items()}
        efficiency = med[names[2]] / (args.nproc * med[names[1]])
        cells = " | ".join(f"{med[k]:.1f}" for k in names)
        lines.append(f"| {case} | {CASES[case][2]} | {cells} | {efficiency:.2f} |")
    body = "\n".join(lines) + (
        f"\n\nSteps per second at the same global batch (median over {args.rounds} alternating rounds of "
        f"{args.steps} steps, each a fresh `gancore train`, the first logging interval left out). Scaling "
        f"efficiency: {names[2]} over {args.nproc} times {names[1]}."
    )
    publish("distributed-cpu", body)


if __name__ == "__main__":
    main()
