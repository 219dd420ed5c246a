"""Values that would crash or hang later are refused now: one line naming the key, exit 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gancore.cli import app

REFUSED = [
    ("optim.lr=true", "optim.lr: expected a number, not true or false"),
    ("critic.layers=true", "critic.layers: expected a number, not true or false"),
    ("generator.conditional=1", "generator.conditional: expected true or false, not a number"),
    ("optim.lr=inf", "optim.lr: Input should be a finite number"),
    ("optim.lr=nan", "optim.lr: Input should be a finite number"),
    ("optim.eps=inf", "optim.eps: Input should be a finite number"),
    ("optim.momentum=-1", "optim.momentum: Input should be greater than or equal to 0"),
    ("optim.weight_decay=inf", "optim.weight_decay: Input should be a finite number"),
    ("optim.betas=[1.5, 0.9]", "optim.betas.0: Input should be less than 1"),
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


def test_a_run_that_stopped_before_its_first_checkpoint_gets_a_hint(tmp_path):
    out = tmp_path / "early"
    out.mkdir()
    (out / "recipe.toml").write_text('[data]\nname = "ring"\n')
    result = CliRunner().invoke(app, ["train", "gan-ring", "--out", str(out)])
    assert result.exit_code == 2
    assert "stopped before its first checkpoint" in result.output and f"rm -r {out}" in result.output
