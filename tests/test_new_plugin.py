"""``gancore new-plugin``: the package it writes installs with pip and passes its own tests
(the contract kit over its parts), its templates ship inside gancore's wheel, and what it
refuses it refuses with one line, writing nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gancore
from gancore.cli import app
from tests.test_docs import read, section

ROOT = Path(__file__).resolve().parent.parent


def new_plugin(*args: str):
    return CliRunner().invoke(app, ["new-plugin", *args])


def builds_offline() -> None:
    """--no-build-isolation builds with this environment's setuptools, which makes wheels
    itself from 70.1 on, and with the wheel package before."""
    pytest.importorskip("setuptools")
    try:
        import setuptools.command.bdist_wheel  # noqa: F401
    except ImportError:
        pytest.importorskip("wheel")


def pip_install(package: Path, site: Path) -> None:
    """As a user would, but offline: no dependencies, no build environment, no index."""
    builds_offline()
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), str(package)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def run_pytest(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("kinds", ["loss,critic", pytest.param("all", marks=pytest.mark.slow)])
def test_the_package_installs_and_passes_its_own_tests(kinds, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = new_plugin("mine", "--kinds", kinds)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote plugin mine (gancore-mine) to mine: ")
    site = tmp_path / "site"
    pip_install(tmp_path / "mine", site)
    assert (site / "gancore_mine" / "mine-example.toml").is_file()  # the recipe is package data
    # Run from outside the package's folder, so that its tests import the installed copy.
    tests = run_pytest([str(tmp_path / "mine" / "tests")], site, cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    summary = tests.stdout.strip().splitlines()[-1]
    passed = re.fullmatch(r"=* (\d+) passed in [\d.]+s =*", summary)  # nothing failed, skipped or warned
    assert passed, summary
    if kinds == "loss,critic":  # docs/plugins.md shows this very run
        shown = section(read("docs/plugins.md"), "## Start here: `gancore new-plugin`")
        assert f"\n{passed.group(1)} passed in " in shown, summary
    written = {p.name for p in (tmp_path / "mine" / "gancore_mine").glob("*.py")}
    expected = {"loss.py", "critic.py"} if kinds != "all" else {f"{k.replace('-', '_')}.py" for k in gancore.KINDS}
    assert written == expected | {"__init__.py"}


def test_the_kit_option_runs_the_installed_plugin_s_cases(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert new_plugin("mine", "--kinds", "loss").exit_code == 0
    pip_install(tmp_path / "mine", tmp_path / "site")
    kit = run_pytest(["--gancore-plugin", "mine"], tmp_path / "site", cwd=tmp_path / "mine")
    # The loss's case and the example recipe's: the package's own tests are not collected.
    assert kit.returncode == 0 and "collected 2 items" in kit.stdout and " 2 passed " in kit.stdout, kit.stdout + kit.stderr


def test_the_templates_ship_in_gancore_s_wheel(tmp_path):
    """A pip user has no repository: ``new-plugin`` reads its templates from the package."""
    builds_offline()
    source = tmp_path / "gancore"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*_cache"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                           "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "wheel").glob("gancore-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("gancore/_template/")}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gancore" / "_template").rglob("*.tmpl")}
    assert on_disk and shipped == on_disk


def test_an_empty_folder_is_taken_and_the_names_follow_the_plugin_s(tmp_path):
    target = tmp_path / "here"
    target.mkdir()
    result = new_plugin("soft_edge", "--kinds", "loss", "--kinds", "dataset,metric", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert "dataset soft-edge, metric soft-edge" in result.output
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "gancore-soft-edge"' in pyproject and 'soft_edge = "gancore_soft_edge"' in pyproject
    init = (target / "gancore_soft_edge" / "__init__.py").read_text()
    assert 'register("loss", "soft-edge", SoftHingeLoss)' in init
    assert (target / "tests" / "test_soft_edge.py").is_file()
    assert (target / "gancore_soft_edge" / "soft-edge-example.toml").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["Mine"], "new-plugin 'Mine': a plugin's name is lowercase letters and digits, words joined by hyphens"),
        (["my plugin"], "a plugin's name is lowercase letters and digits"),
        (["2gan"], "a plugin's name is lowercase letters and digits"),
        (["gancore-mine"], "give the name without the gancore prefix"),
        (["nets"], f"new-plugin nets: a plugin of that name is installed already (gancore {gancore.__version__}); choose another name"),
        (["hinge", "--kinds", "loss"], "new-plugin hinge: loss 'hinge' is registered already (plugin losses)"),
        (["mine", "--kinds", "los"], "--kinds: unknown kind 'los'; did you mean 'loss'?"),
        (["mine", "--kinds", "predictor"], "--kinds predictor: a kind that plugin recyclegan adds; new-plugin writes parts of the core's kinds"),
        (["mine", "--kinds", ","], "--kinds: name one kind or more"),
        (["mine", "--out", "taken"], "taken already exists and is not empty; choose another --out"),
        (["mine", "--out", "file.txt"], "--out file.txt: a file is there"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    (tmp_path / "file.txt").write_text("mine")
    result = new_plugin(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "taken"]
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
