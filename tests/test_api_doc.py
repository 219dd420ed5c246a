"""docs/api.md: every public name has its entry, and the examples run as one script."""

from __future__ import annotations

import re
from pathlib import Path

import gancore
import gancore.testing

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _headings() -> str:
    return "\n".join(line for line in API.read_text().splitlines() if line.startswith("#"))


def test_every_public_name_has_an_entry():
    headings = _headings()
    missing = [n for n in gancore.__all__ if f"`{n}`" not in headings]
    missing += [f"testing.{n}" for n in gancore.testing.__all__ if f"`{n}`" not in headings]
    assert not missing, f"docs/api.md has no heading naming {missing}"


def test_the_examples_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", API.read_text(), flags=re.S))
    namespace: dict = {"__name__": "api_examples"}
    exec(compile(code, str(API), "exec"), namespace)
    assert namespace["run"].step == 4 and namespace["again"].step == 6
