"""What each process of the distributed tests runs (started by torchrun from
tests/test_distributed.py): ``python -m torch.distributed.run ... _distributed_worker.py
MODE RESULT RECIPES_JSON``.

``weights``: train every recipe on the CPU and have rank 0 save its weights (and each
process's checksum of every network and EMA copy, which must agree); ``rows``: train every recipe and have rank 0
save the metric rows it logged; ``resume``: train every recipe straight and, in another
directory, halfway then resumed, and have rank 0 save both final weights.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

import gancore


def weights_of(run: gancore.Run) -> dict[str, torch.Tensor]:
    weights = {f"scheme.{k}": v for k, v in run.scheme.state_dict().items()}
    for net, avg in run.ema.items():
        weights |= {f"ema.{net}.{k}": v for k, v in avg.state_dict().items()}
    return weights


def resumed_and_straight(recipe: dict, folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The run straight through, and stopped halfway then resumed, in these processes."""
    steps = recipe["train"]["steps"]
    straight = gancore.create_run(recipe, out=folder / "straight").train()
    gancore.create_run(recipe, out=folder / "half", overrides={"train.steps": steps // 2}).train()
    resumed = gancore.load_run(folder / "half", overrides=[f"train.steps={steps}"]).train()
    return {"straight": weights_of(straight), "resumed": weights_of(resumed)}


def main() -> None:
    mode, result, recipes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    torch.set_num_threads(1)
    out: dict[str, object] = {}
    main = True
    for name, recipe in recipes.items():
        if mode == "resume":
            out[name] = resumed_and_straight(recipe, Path(result).parent / name)
            main = torch.distributed.get_rank() == 0
            continue
        rows: list[dict] = []
        run = gancore.create_run(recipe)
        run.train(report=rows.append)
        main = run.processes.is_main
        if mode == "weights":
            nets = {name: getattr(run.scheme, name) for names in run.scheme.networks.values() for name in names}
            nets |= {f"ema.{name}": avg for name, avg in run.ema.items()}
            checksums = run.processes.gather({name: float(sum(p.double().sum() for p in net.parameters()))
                                              for name, net in nets.items()})
            if run.processes.is_main:
                out[name] = {"weights": weights_of(run), "checksums": checksums}
        else:
            out[name] = {"rows": rows, "world": run.processes.world}
    if main:
        torch.save(out, result)


if __name__ == "__main__":
    main()
