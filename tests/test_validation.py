"""Values that would crash or hang later are refused now: one line naming the key (a block
of lines for several), exit 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gancore.cli import app

REFUSED = [
    ("optim.lr=true", "optim.lr: expected a number, not true or false (optimizer groups 'generator', 'critic')"),
    ("critic.layers=true", "critic.layers: expected a number, not true or false"),
    ("generator.conditional=1", "generator.conditional: expected true or false, not a number"),
    ("optim.lr=inf", "optim.lr: Input should be a finite number (optimizer groups 'generator', 'critic')"),
    ("optim.lr=nan", "optim.lr: Input should be a finite number (optimizer groups 'generator', 'critic')"),
    ("optim.eps=inf", "optim.eps: Input should be a finite number (optimizer groups 'generator', 'critic')"),
    ("optim.critic.eps=0", "optim.critic.eps: Input should be greater than 0"),
    ("optim.weight_decay=inf", "optim.weight_decay: Input should be a finite number (optimizer groups 'generator', 'critic')"),
    ("optim.betas=[1.5, 0.9]", "optim.betas.0: Input should be less than 1 (optimizer groups 'generator', 'critic')"),
    ("optim.critic.betas=[0.5, 1.0]", "optim.critic.betas.1: Input should be less than 1"),
    ("regularizers=[{name='gradient-penalty', weight=inf}]", "regularizers.0.weight: Input should be a finite number"),
    ("train.seed=20000000000000", "train.seed: Input should be less than or equal to 4294967295"),
    ("train.seed=-1", "train.seed: Input should be greater than or equal to 0"),
    ("scheme.n_critic=1000000000000000000000000000000", "scheme.n_critic: Input should be less than or equal to 100"),
    ("train.num_samples=2000000000", "train.num_samples: Input should be less than or equal to 10000"),
    ("eval.num_samples=2000000000", "eval.num_samples: Input should be less than or equal to 1000000"),
]


@pytest.mark.parametrize(("override", "message"), REFUSED, ids=[o for o, _ in REFUSED])
def test_a_value_that_would_fail_later_is_refused_now(override, message, tmp_path):
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["train", "gan-ring", "--set", override, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"error: {message}"]
    assert not out.exists()  # nothing was created


def test_a_recipe_with_several_mistakes_reports_them_all_in_one_message(tmp_path):
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["train", "gan-ring", "--out", str(out), "--set", "generator.latent_dim=0",
                                      "--set", "critic.name=mpl", "--set", "train.steps=-5"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: recipe has 3 errors:"]
    listed = result.output.split("error: recipe has 3 errors:\n", 1)[1].splitlines()
    assert [line.split(":")[0] for line in listed] == ["  train.steps", "  generator.latent_dim", "  critic.name"]
    assert "did you mean 'mlp'" in listed[2]
    assert not out.exists()


def test_a_run_that_stopped_before_its_first_checkpoint_gets_a_hint(tmp_path):
    out = tmp_path / "early"
    out.mkdir()
    (out / "recipe.toml").write_text('[data]\nname = "ring"\n')
    result = CliRunner().invoke(app, ["train", "gan-ring", "--out", str(out)])
    assert result.exit_code == 2
    assert "stopped before its first checkpoint" in result.output and f"rm -r {out}" in result.output


def test_an_impossible_out_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(app, ["train", "gan-ring", "--set", "train.steps=2", "--out", str(blocker / "run")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot write or read") and "Not a directory" in errors[0]
    assert "Traceback" not in result.output


def test_a_full_disk_is_one_line_and_keeps_the_good_checkpoint(tmp_path, tiny_ring_file):
    import resource
    import subprocess
    import sys

    from gancore import _checkpoint as ckpt

    out = tmp_path / "run"
    cli = [sys.executable, "-c", "from gancore.cli import main; main()"]
    first = subprocess.run([*cli, "train", str(tiny_ring_file), "--out", str(out), "--set", "train.steps=10"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr

    def small_files():  # every file write past 2 kB fails, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    resumed = subprocess.run([*cli, "train", "--out", str(out), "--resume", "--set", "train.steps=20"],
                             capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert resumed.returncode == 2, resumed.stderr
    lines = [line for line in resumed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot write or read"), resumed.stderr
    kept = ckpt.list_checkpoints(out / "checkpoints")
    assert [s for s, _ in kept] == [10] and ckpt.load(kept[0][1])["step"] == 10
    assert not list((out / "checkpoints").glob(".*.tmp"))


def test_untyped_plugin_parameters_take_their_defaults_type():
    from gancore._params import params_model

    def factory(hidden=256, rate=0.5, name="x", flag=False, anything=None):
        return None

    model = params_model(factory, "Untyped")
    assert model(hidden=3, rate=1, name="y", flag=True, anything=[1]).hidden == 3
    assert model(hidden=2.5).hidden == 2.5  # a whole-number default may stand for a float
    for bad in ({"hidden": "wide"}, {"hidden": True}, {"rate": "fast"}, {"flag": 1}, {"rate": float("inf")}):
        with pytest.raises(Exception):
            model(**bad)
