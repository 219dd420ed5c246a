"""One rule for where a run is written, at every entry point: a new run goes into a new or
empty folder, never into a file, another run, or a folder of someone's files (which stay
untouched); a run is loaded only from a folder that holds one. ``--resume`` is suggested
only where there is a run to continue."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import gancore
from gancore.cli import app

QUICK = ["--set", "train.steps=2", "--set", "train.log_every=1", "--set", "train.device=cpu"]


def _users_folder(tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "thesis.txt").write_text("three years of work")
    return folder


def _untouched(folder):
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]
    assert (folder / "thesis.txt").read_text() == "three years of work"


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_create_run_refuses_a_folder_of_someone_s_files(tmp_path, tiny_ring):
    folder = _users_folder(tmp_path)
    with pytest.raises(gancore.GancoreError) as info:
        gancore.create_run(tiny_ring, out=folder)
    assert str(info.value) == (f"{folder} is not empty and holds no gancore run (no recipe.toml); "
                               "a new run needs a new or empty folder: choose another directory")
    _untouched(folder)


def test_a_folder_that_fills_after_create_run_is_refused_when_training_starts(tmp_path, tiny_ring):
    folder = tmp_path / "later"
    run = gancore.create_run(tiny_ring, out=folder)
    folder.mkdir()
    (folder / "thesis.txt").write_text("three years of work")
    with pytest.raises(gancore.GancoreError, match="is not empty and holds no gancore run"):
        run.train()
    _untouched(folder)  # not even a lock file was left in it
    assert run.step == 0


def test_create_run_refuses_a_file(tmp_path, tiny_ring):
    path = tmp_path / "notes.txt"
    path.write_text("keep")
    with pytest.raises(gancore.GancoreError, match=r"notes.txt is a file, not a folder for a run; choose another directory$"):
        gancore.create_run(tiny_ring, out=path)
    assert path.read_text() == "keep"


def test_create_run_takes_an_empty_folder_and_points_at_load_run_after(tmp_path, tiny_ring):
    folder = tmp_path / "empty"
    folder.mkdir()
    tiny_ring["train"] |= {"steps": 2, "checkpoint_every": 0}
    gancore.create_run(tiny_ring, out=folder).train()
    with pytest.raises(gancore.GancoreError) as info:
        gancore.create_run(tiny_ring, out=folder)
    assert str(info.value) == f"{folder} already holds a run; continue it with load_run({str(folder)!r}) or choose another directory"


def test_train_refuses_a_folder_of_someone_s_files_without_suggesting_resume(tmp_path):
    folder = _users_folder(tmp_path)
    line = _error(CliRunner().invoke(app, ["train", "gan-ring", *QUICK, "--out", str(folder)]))
    assert line == (f"error: {folder} is not empty and holds no gancore run (no recipe.toml); "
                    "a new run needs a new or empty folder: choose another --out")
    _untouched(folder)


def test_train_refuses_a_file_as_out(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep")
    line = _error(CliRunner().invoke(app, ["train", "gan-ring", *QUICK, "--out", str(path)]))
    assert line == f"error: {path} is a file, not a folder for a run; choose another --out"
    assert path.read_text() == "keep"


def test_train_suggests_resume_for_a_real_run_only(tmp_path):
    out = tmp_path / "ring"
    assert CliRunner().invoke(app, ["train", "gan-ring", *QUICK, "--out", str(out)]).exit_code == 0
    line = _error(CliRunner().invoke(app, ["train", "gan-ring", *QUICK, "--out", str(out)]))
    assert line == f"error: {out} already holds a run; continue it with --resume or choose another --out"


@pytest.mark.parametrize("what", ["missing", "file", "folder"])
def test_loading_says_what_is_there_instead_of_a_run(tmp_path, what):
    path = tmp_path / "run"
    if what == "file":
        path.write_text("keep")
    elif what == "folder":
        path.mkdir()
        (path / "thesis.txt").write_text("keep")
    expected = {"missing": f"{path} does not exist", "file": f"{path} is a file, not a gancore run",
                "folder": f"{path} is not a gancore run (no recipe.toml)"}[what]
    with pytest.raises(gancore.GancoreError) as info:
        gancore.load_run(path)
    assert str(info.value) == expected
    for args in (["train", "--out", str(path), "--resume"], ["sample", str(path)], ["eval", str(path)]):
        assert _error(CliRunner().invoke(app, args)) == f"error: {expected}", args
    assert what != "file" or path.read_text() == "keep"


def test_a_run_still_before_its_first_checkpoint_is_in_use_not_stopped(tmp_path, tiny_ring):
    import subprocess
    import sys

    from gancore._rundir import RECIPE_FILE

    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / RECIPE_FILE).write_text('[data]\nname = "ring"\n')
    # Another process holds the lock, as a run writing its first steps does.
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from gancore._rundir import RunLock; RunLock(Path(sys.argv[1])).acquire(); "
                               "print('held', flush=True); time.sleep(60)", str(folder)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(gancore.GancoreError, match=rf"is in use: another gancore process \(pid {holder.pid}\)"):
            gancore.create_run(tiny_ring, out=folder)
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(gancore.GancoreError, match="stopped before its first checkpoint"):
        gancore.create_run(tiny_ring, out=folder)
