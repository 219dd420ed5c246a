"""The commands that measure: ``gancore eval`` (a run's samples against its data) and
``gancore stats`` (reference statistics of real images, for FID)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from .._documents import new_recipe
from .._errors import GancoreError
from .._evaluate import metric_spec
from .._plugins import registry as default_registry
from .._registry import Registry
from .._run import Run
from .._rundir import RECIPE_FILE
from .._statistics import feature_statistics, folder_images, save_statistics
from ._app import app
from ._metrics import metric_items
from ._output import console, plugin_warnings, print_json, print_table
from ._paths import output_file
from ._runs import DEFAULT_DEVICE, BestOption, DeviceOption, StepOption, ThreadsOption, trained_run, use_threads

FeaturesOption = Annotated[Optional[str], typer.Option("--features", help="Feature space of every metric that takes one (see gancore list features); default: each metric's own.")]
WeightsOption = Annotated[Optional[Path], typer.Option("--weights", help="Weights file of the feature space (inception: pt_inception-2015-12-05-6726825d.pth; also GANCORE_INCEPTION_WEIGHTS).")]
ResizeOption = Annotated[Optional[str], typer.Option("--resize", help="Inception's preprocessing: bilinear (pytorch-fid's, the default) or clean (clean-fid's PIL bicubic).")]


def features_choice(registry: Registry, base: Any, features: str | None, weights: Path | None,
                    resize: str | None) -> Any:
    """The feature space the options ask for (a name or a table), on top of ``base`` (the
    recipe's ``eval.features``); ``--weights`` and ``--resize`` alone mean inception's."""
    if features is None and weights is None and resize is None:
        return base
    if features is not None:
        table: dict[str, Any] = {"name": features}
    elif isinstance(base, dict):
        table = dict(base)
    else:
        table = {"name": base or "inception"}
    if weights is not None:
        table["weights"] = str(weights)
    if resize is not None:
        table["resize"] = resize
    params = {k: v for k, v in table.items() if k != "name"}
    taken = registry.get("features", table["name"]).params.model_fields
    for option, key in (("--weights", "weights"), ("--resize", "resize")):
        if key in params and key not in taken:
            raise GancoreError(f"{option}: features {table['name']!r} take no {key}")
    try:
        registry.validate("features", table["name"], params, "--features")
    except GancoreError as exc:  # name the option that gave the value
        message = str(exc)
        for key in ("weights", "resize"):
            message = message.replace(f"--features.{key}:", f"--{key}:")
        raise GancoreError(message) from None
    return table if params else table["name"]


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    metrics: Annotated[Optional[list[str]], typer.Option("--metrics", metavar="METRIC", help="A metric: its name, or a TOML table of its name and parameters, '{ name = \"kid\", subsets = 10 }'; repeatable (default: the recipe's eval.metrics, else every metric that fits the data).")] = None,
    num: Annotated[Optional[int], typer.Option("--num", min=1, help="Generated and real samples (default: the recipe's eval.num_samples).")] = None,
    step: StepOption = None,
    best: BestOption = False,
    features: FeaturesOption = None,
    weights: WeightsOption = None,
    resize: ResizeOption = None,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="FID against these statistics (.npz from gancore stats, or pytorch-fid's) instead of the run's data.")] = None,
    device: DeviceOption = DEFAULT_DEVICE,
    threads: ThreadsOption = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a run's latest weights with registered metrics."""
    plugin_warnings()
    use_threads(threads)
    run = trained_run(run_dir, device=device, step=step, best=best)
    # Names, or the recipe's tables of a name and parameters.
    names: list[Any] = metric_items(metrics) if metrics else run.eval_metrics()
    if not names:
        raise GancoreError("no metric fits this run's data; name some with --metrics (see gancore list metric)")
    specs = [metric_spec(name) for name in names]
    for name, params in specs:  # before any sample is drawn
        run.registry.validate("metric", name, params, f"--metrics {name}" if metrics else "eval.metrics")
    if reference is not None:
        if not any(name == "fid" for name, _ in specs):
            raise GancoreError("--reference: it stands in for the real images of fid; add fid to --metrics")
        specs = [(name, params | {"reference": str(reference)} if name == "fid" else params) for name, params in specs]
    choice = features_choice(run.registry, run.recipe.eval.features, features, weights, resize)
    values = run.evaluate([{"name": name, **params} for name, params in specs], num, features=choice)
    result = {"run": str(run_dir), "step": run.step, "num_samples": num or run.recipe.eval.num_samples, "metrics": values}
    if json_:
        # JSON has no infinity: an empty mode histogram's KL prints as null.
        result["metrics"] = {k: (v if math.isfinite(v) else None) for k, v in values.items()}
        print_json(result)
        return
    table = Table("metric", "value", box=None, pad_edge=False, title=f"{run_dir} at step {run.step}")
    for k, v in values.items():
        table.add_row(k, f"{v:.4f}")
    print_table(table)


@app.command()
def stats(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="A folder of images (read at their own size), a run directory, or a recipe (name or file) whose dataset to use.")],
    out: Annotated[Path, typer.Option("--out", help="The statistics file to write (.npz: mu, sigma, count, and what made them), or a folder to write SOURCE's name.npz into.")],
    features: Annotated[str, typer.Option("--features", help="Feature space (see gancore list features).")] = "inception",
    weights: WeightsOption = None,
    resize: ResizeOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per forward pass.")] = 100,
    threads: ThreadsOption = None,
) -> None:
    """Write the reference statistics (feature mean and covariance) of real images, for
    gancore eval RUN --reference FILE and other FID tools."""
    plugin_warnings()
    use_threads(threads)
    out = output_file(out, f"{Path(source).name or 'statistics'}.npz", (".npz",))
    registry = default_registry()
    choice = features_choice(registry, None, features, weights, resize)
    name, params = (choice, {}) if isinstance(choice, str) else (choice["name"], {k: v for k, v in choice.items() if k != "name"})
    space = registry.build("features", name, params)
    path = Path(source)
    if path.is_dir() and not (path / RECIPE_FILE).is_file():
        batches = folder_images(path, batch_size)
    else:
        if path.is_dir():  # a run: its recipe's dataset
            data = Run.load(path, device="cpu").dataset
        else:
            if not path.exists() and ("/" in source or path.suffix):
                raise GancoreError(f"{source} does not exist (SOURCE: a folder of images, a run directory or a recipe)")
            _, recipe = new_recipe(source, registry)
            _, data_name, data_params = recipe.data
            data = registry.build("dataset", data_name, data_params)
        if not data.spec.is_image:
            raise GancoreError(f"{source}: its dataset holds {data.spec.shape} points, not images")
        batches = iter(data.tensors["x"].split(batch_size))
    describe = getattr(space, "describe", None)
    about = {"features": name} | (describe() if callable(describe) else {}) | {"source": str(source)}
    result = feature_statistics(space, batches, about)
    save_statistics(result, out)
    made = ", ".join(v for k, v in about.items() if k != "source")
    console.print(f"wrote the statistics of {result.count} images ({made}) to {out}")
