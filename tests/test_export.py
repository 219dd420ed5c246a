"""gancore export and gancore.load_generator: the run's generator outside gancore."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import gancore
from gancore import _export_formats, _hub
from gancore.cli import app
from tests.conftest import TINY_RING

TINY = {"train.steps": 3, "train.batch_size": 16, "data.limit": 64, "train.device": "cpu", "train.sample_every": 0,
        "train.checkpoint_every": 0, "train.threads": 1}
RUNS = {  # a convolutional generator, a class-conditional one, an MLP
    "dcgan": ("dcgan-mnist", {"generator.width": 8, "critic.width": 8}),
    "conditional": ("cdcgan-mnist", {"generator.width": 8, "critic.width": 8}),
    "mlp": ("gan-mnist", {"generator.hidden": 16, "critic.hidden": 16}),
}
N = 5  # an odd batch, unlike the one the graph was traced with


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each run trained a few steps and exported with the CLI (pt2 and safetensors)."""
    root = tmp_path_factory.mktemp("export")
    out = {}
    for key, (recipe, over) in RUNS.items():
        run = gancore.create_run(recipe, overrides=TINY | over, out=root / key).train()
        done = CliRunner().invoke(app, ["export", str(run.out), "--out", str(root / f"{key}-export"), "--threads", "1"])
        assert done.exit_code == 0, done.output
        out[key] = (run, root / f"{key}-export")
    return out


def inputs(run):
    z = torch.randn(N, run.scheme.generator.latent_dim, generator=torch.Generator().manual_seed(11))
    labels = torch.tensor([3, 1, 4, 1, 5]) if run.scheme.num_classes else None
    return z, labels


PROGRAM_ONLY = textwrap.dedent("""
    import sys
    import torch

    for program, given, result in zip(*[iter(sys.argv[1:])] * 3):
        module = torch.export.load(program).module()
        torch.save(module(*torch.load(given, weights_only=True)), result)
    # torch alone: nothing of gancore or its plugins was imported
    assert not [m for m in sys.modules if m.startswith(("gancore", "_gancore"))], sorted(sys.modules)
    print("torch only")
""")


def test_the_pt2_program_generates_the_run_s_samples_in_a_process_without_gancore(exported, tmp_path):
    args = []
    for key, (run, folder) in exported.items():
        z, labels = inputs(run)
        torch.save((z,) if labels is None else (z, labels), tmp_path / f"{key}.in.pt")
        args += [str(folder / "generator.pt2"), str(tmp_path / f"{key}.in.pt"), str(tmp_path / f"{key}.out.pt")]
    done = subprocess.run([sys.executable, "-c", PROGRAM_ONLY, *args], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0 and "torch only" in done.stdout, done.stderr
    for key, (run, _) in exported.items():
        z, labels = inputs(run)
        expected = run.sample(N, latents=z, labels=labels)  # the EMA weights, as exported
        got = torch.load(tmp_path / f"{key}.out.pt", weights_only=True)
        difference = float((got - expected).abs().max())
        print(f"pt2 {key}: max abs difference {difference:.2e}")
        assert got.shape == expected.shape and difference <= 1e-5


def test_load_generator_rebuilds_the_plugin_s_network_with_the_run_s_weights(exported):
    for key, (run, folder) in exported.items():
        generator = gancore.load_generator(folder, device="cpu")
        assert isinstance(generator, nn.Module) and not generator.training
        assert type(generator) is type(run.scheme.generator)
        assert generator.latent_dim == run.scheme.generator.latent_dim
        z, labels = inputs(run)
        with torch.no_grad():
            got = generator(z, labels)
        difference = float((got - run.sample(N, latents=z, labels=labels)).abs().max())
        print(f"load_generator {key}: max abs difference {difference:.2e}")
        assert difference <= 1e-5
    config = json.loads((exported["conditional"][1] / "config.json").read_text())
    assert config["generator"]["name"] == "dcgan" and config["generator"]["params"]["conditional"] is True
    assert config["num_classes"] == 10 and config["data"]["shape"] == [1, 28, 28] and config["run"]["ema"] is True


def test_weights_are_read_on_the_cpu_then_moved_so_a_gpu_run_loads_anywhere(exported, monkeypatch):
    from safetensors import torch as safetensors_torch

    asked = []
    original = safetensors_torch.load_file

    def recording(path, device="cpu"):
        asked.append(device)
        return original(path, device=device)

    monkeypatch.setattr(safetensors_torch, "load_file", recording)
    generator = gancore.load_generator(str(exported["mlp"][1]), device=torch.device("cpu"))
    assert asked == ["cpu"] and {p.device.type for p in generator.parameters()} == {"cpu"}


def test_no_ema_exports_the_live_weights(exported, tmp_path):
    run, _ = exported["dcgan"]
    done = CliRunner().invoke(app, ["export", str(run.out), "--no-ema", "--format", "safetensors", "--out",
                                    str(tmp_path / "live"), "--threads", "1"])
    assert done.exit_code == 0 and "live weights" in done.output, done.output
    assert not (tmp_path / "live" / "generator.pt2").exists()
    z, _ = inputs(run)
    with torch.no_grad():
        got = gancore.load_generator(tmp_path / "live")(z)
    assert torch.allclose(got, run.sample(N, latents=z, ema=False), atol=1e-5)
    assert not torch.allclose(got, run.sample(N, latents=z), atol=1e-5)  # the EMA copy differs


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxscript") is None,
                    reason="needs the onnx extra and onnxruntime")
def test_onnx_gives_the_same_samples(exported, tmp_path):
    import onnxruntime

    run, _ = exported["conditional"]
    done = CliRunner().invoke(app, ["export", str(run.out), "--format", "onnx", "--out", str(tmp_path / "o"),
                                    "--threads", "1"])
    assert done.exit_code == 0, done.output
    session = onnxruntime.InferenceSession(str(tmp_path / "o" / "model.onnx"), providers=["CPUExecutionProvider"])
    z, labels = inputs(run)
    (got,) = session.run(None, {"z": z.numpy(), "labels": labels.numpy()})
    difference = float((torch.from_numpy(got) - run.sample(N, latents=z, labels=labels)).abs().max())
    print(f"onnx conditional: max abs difference {difference:.2e}")
    assert difference <= 1e-4  # another runtime's kernels: float32 sums in another order


def test_without_the_onnx_extra_the_format_is_one_line(exported, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("onnx") else real(name, *a))
    done = CliRunner().invoke(app, ["export", str(exported["mlp"][0].out), "--format", "pt2,onnx"])
    assert done.exit_code == 2
    assert done.output.strip() == "error: --format onnx needs the onnx extra: pip install 'gancore[onnx]'"


def test_what_cannot_be_exported_is_one_error_line(exported, tmp_path):
    run, _ = exported["mlp"]
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    own = copy.deepcopy(TINY_RING)
    generator = gancore.build("generator", "mlp", {"latent_dim": 8, "hidden": 16},
                              spec=gancore.DataSpec(shape=(2,)))
    del own["generator"]
    objects = gancore.create_run(own, generator=generator).train()
    infogan = gancore.create_run({
        "scheme": {"name": "infogan", "categories": 4, "continuous": 1, "q_hidden": 8},
        "data": {"name": "mnist", "limit": 64},
        "generator": {"name": "infogan", "noise_dim": 8, "categories": 4, "continuous": 1, "width": 4, "hidden": 8},
        "critic": {"name": "infogan", "width": 4, "hidden": 8},
        "train": {"steps": 1, "batch_size": 16, "device": "cpu"},
    }, out=tmp_path / "infogan").train()
    cases = [
        ([run.out, "--format", "pt3"], "--format 'pt3': the formats are pt2, safetensors, onnx"),
        ([run.out, "--out", tmp_path / "busy"], "holds other files (notes.txt)"),
        ([infogan.out, "--out", tmp_path / "o2"], "scheme 'infogan' does not sample from standard normal codes"),
        ([run.out, "--hub-repo", "no-owner"] if importlib.util.find_spec("huggingface_hub") else [run.out, "--hub-repo", "a/b"],
         "give it as owner/name" if importlib.util.find_spec("huggingface_hub") else "needs the hub extra"),
    ]
    for args, message in cases:
        done = CliRunner().invoke(app, ["export", *map(str, args), "--threads", "1"])
        assert done.exit_code == 2, (args, done.output)
        assert message in done.output and "Traceback" not in done.output, done.output
    # a generator given as an object exports as a program, not as weights to rebuild it from
    with pytest.raises(gancore.GancoreError, match="given as a Python object, not a registered part"):
        gancore.export_generator(objects, tmp_path / "o1")
    files = gancore.export_generator(objects, tmp_path / "o3", formats=["pt2"])
    assert sorted(p.name for p in files) == ["README.md", "generator.pt2", "sample.png"]
    for folder, message in [(tmp_path / "nothing", "no such folder"), (tmp_path / "o3", "no config.json")]:
        with pytest.raises(gancore.GancoreError, match=message):
            gancore.load_generator(folder)


def test_a_generator_whose_plugin_is_missing_names_what_to_install(exported, tmp_path):
    import shutil

    folder = shutil.copytree(exported["mlp"][1], tmp_path / "copy")
    config = json.loads((folder / "config.json").read_text())
    config["generator"] |= {"name": "stylegan9", "plugin": "styles", "distribution": "gancore-styles"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(gancore.GancoreError, match="generator 'stylegan9' is not registered here: install the plugin "
                                                   r"that registered it \(plugin 'styles', from gancore-styles\)"):
        gancore.load_generator(folder)


# ---------------------------------------------------------------- sharing


def test_the_model_card_has_the_recipe_metrics_and_sample_grid(exported):
    run, folder = exported["dcgan"]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: gancore\n")
    assert "![samples](sample.png)" in card and (folder / "sample.png").is_file()
    assert '[generator]\nname = "dcgan"' in card and "width = 8" in card  # the resolved recipe
    assert "No evaluation was logged during training" in card
    assert 'torch.export.load("generator.pt2")' in card


def test_the_card_reports_the_newest_evaluation(tmp_path):
    over = TINY | RUNS["mlp"][1] | {"eval.every": 2, "eval.metrics": ["classifier-score"], "eval.num_samples": 32,
                                    "train.steps": 4}
    run = gancore.create_run("gan-mnist", overrides=over, out=tmp_path / "run").train()
    done = CliRunner().invoke(app, ["export", str(run.out), "--format", "safetensors", "--threads", "1"])
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in (run.out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "classifier_score" in r][-1]["classifier_score"]
    assert f"| classifier_score | {last:.6g} |" in (run.out / "export" / "README.md").read_text()


def test_push_and_pull_through_the_hub_with_its_functions_replaced(exported, tmp_path, monkeypatch):
    run, _ = exported["conditional"]
    pushed = {}

    def upload(folder, repo, message):
        import shutil

        pushed["repo"], pushed["message"] = repo, message
        shutil.copytree(folder, tmp_path / "hub" / repo)
        return f"https://huggingface.co/{repo}"

    monkeypatch.setattr(_hub, "hub_module", lambda: object())  # the extra is "installed"
    monkeypatch.setattr("gancore.cli._export.hub_module", lambda: object())
    monkeypatch.setattr("gancore.cli._export.upload", upload)
    done = CliRunner().invoke(app, ["export", str(run.out), "--out", str(tmp_path / "share"), "--hub-repo", "me/digits",
                                    "--threads", "1"])
    assert done.exit_code == 0, done.output
    assert "pushed" in done.output and "https://huggingface.co/me/digits" in done.output
    assert pushed == {"repo": "me/digits", "message": f"gancore export of cdcgan-mnist at step {run.step}"}
    assert 'gancore.load_generator("hub:me/digits")' in (tmp_path / "hub" / "me" / "digits" / "README.md").read_text()
    asked = []
    monkeypatch.setattr(_hub, "download", lambda repo: asked.append(repo) or tmp_path / "hub" / repo)
    generator = gancore.load_generator("hub:me/digits")
    assert asked == ["me/digits"]
    z, labels = inputs(run)
    with torch.no_grad():
        assert torch.allclose(generator(z, labels), run.sample(N, latents=z, labels=labels), atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("huggingface_hub") is not None, reason="the hub extra is installed")
def test_without_the_hub_extra_sharing_is_one_line(exported):
    done = CliRunner().invoke(app, ["export", str(exported["mlp"][0].out), "--hub-repo", "me/digits"])
    assert done.exit_code == 2
    assert done.output.strip() == "error: the Hugging Face Hub needs the hub extra: pip install 'gancore[hub]'"
    with pytest.raises(gancore.GancoreError, match=r"needs the hub extra: pip install 'gancore\[hub\]'"):
        gancore.load_generator("hub:me/digits")


# ---------------------------------------------------------------- every registered generator


def _generator_cases():
    from gancore.testing import STANDARD_SPECS, accepts, examples

    out = []
    for entry in gancore.registry().entries("generator"):
        spec_id = next((s for s in ("mnist", "points", "cifar", "frames") if accepts(entry.factory, STANDARD_SPECS[s])), None)
        conditional = entry.params.model_fields.get("conditional")
        variants = [{}] if conditional is None or conditional.annotation is not bool else [{}, {"conditional": True}]
        for params in examples(entry)[:1]:
            for variant in variants:
                marks = []
                if entry.name in IMAGE_TO_IMAGE:
                    marks = [pytest.mark.skip(reason=IMAGE_TO_IMAGE[entry.name])]
                out.append(pytest.param(entry.name, spec_id, params | variant, marks=marks,
                                        id=f"{entry.name}-{spec_id}" + ("-conditional" if variant else "")))
    return out


# What export does not take: a generator that maps images has no codes to export it for.
IMAGE_TO_IMAGE = {name: "an image-to-image generator: it maps images, not latent codes, and export takes a "
                        "generator of latent codes" for name in ("per-frame", "resnet", "tp", "twin", "unet")}


@pytest.mark.parametrize("name, spec_id, params", _generator_cases())
def test_every_registered_generator_of_latent_codes_exports(name, spec_id, params, tmp_path):
    """Built with the contract kit's example parameters on a standard spec (no training):
    the pt2 program and load_generator give the network's own samples."""
    from gancore.testing import STANDARD_SPECS

    spec = STANDARD_SPECS[spec_id]
    torch.manual_seed(0)
    network = gancore.build("generator", name, params, spec=spec).eval()
    latent_dim, classes = network.latent_dim, getattr(network, "num_classes", None)
    copy_ = _export_formats.cpu_copy(network)
    _export_formats.write_program(copy_, latent_dim, classes, tmp_path / "generator.pt2")
    config = {"format": 1, "generator": {"name": name, "params": params}, "data": _export_formats.spec_json(spec)}
    _export_formats.write_weights(copy_, config, tmp_path)
    z = torch.randn(3, latent_dim, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2, 1]) if classes else None
    with torch.no_grad():
        expected = network(z, labels)
        program = torch.export.load(str(tmp_path / "generator.pt2")).module()
        got = program(*((z, labels) if classes else (z,)))
        assert float((got - expected).abs().max()) <= 1e-5
        loaded = gancore.load_generator(tmp_path)
        assert float((loaded(z, labels) - expected).abs().max()) <= 1e-5
