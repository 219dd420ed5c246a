"""The documentation stays true to the code.

Each check reads the registry, the CLI's command objects or the recipe models, and looks
for them in README.md and docs/. A part, option, setting or recipe added to the code
without a line in the docs fails here, and so does a documented option the CLI lacks.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import gancore
import gancore.cli
from gancore._optim import EngineKeys
from gancore._recipe import EmaSettings, EvalSettings, Recipe, TrainSettings
from gancore._documents import RESUMABLE_KEYS

ROOT = Path(__file__).resolve().parent.parent


def read(name: str) -> str:
    path = ROOT / name
    if not path.is_file():
        pytest.fail(f"{name} is missing")
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body under a markdown heading line (exactly ``heading``) up to the next heading of
    the same or a higher level."""
    lines = text.splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    try:
        start = lines.index(heading)
    except ValueError:
        pytest.fail(f"no heading {heading!r}")
    body = []
    in_code = False
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("#"):
            hashes = len(line) - len(line.lstrip("#"))
            if hashes <= level and line[hashes : hashes + 1] == " ":
                break
        body.append(line)
    return "\n".join(body)


def squash(text: str) -> str:
    """Whitespace collapsed, so that line wrapping and table padding do not matter."""
    return " ".join(text.split())


def first_party_plugins() -> set[str]:
    return {name for name, info in gancore.host().plugins.items() if info.first_party}


def cli_group():
    """The click group behind the Typer app (Typer ships its own copy of click, so the
    objects are checked by their attributes, not by click's classes)."""
    group = typer.main.get_command(gancore.cli.app)
    assert hasattr(group, "commands")
    return group


def options(command) -> dict:
    """Option string -> parameter, for every option of a click command (``--help`` aside)."""
    return {opt: p for p in command.params if p.param_type_name == "option" for opt in p.opts}


# ---------------------------------------------------------------- README: the parts table


def readme_parts_table() -> set[tuple[str, str]]:
    """(kind, name) pairs of README.md's parts table: kind in the first column, one or more
    backticked names in the second."""
    table = section(read("README.md"), "## The parts")
    pairs = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= set("-: "):
            continue
        for name in re.findall(r"`([^`]+)`", cells[1]):
            pairs.add((cells[0], name))
    return pairs


def test_readme_parts_table_lists_every_first_party_part():
    """Every part of the first-party plugins; a third-party plugin installed next to gancore
    (the example plugin, say) documents its own parts."""
    listed = readme_parts_table()
    ours = first_party_plugins()
    missing = sorted(
        f"{e.kind} {e.name} ({e.plugin})"
        for e in gancore.registry().entries()
        if e.plugin in ours and (e.kind, e.name) not in listed
    )
    assert not missing, "README.md's parts table lacks: " + ", ".join(missing)


def test_readme_parts_table_names_only_registered_parts():
    registered = set(gancore.registry().parts)
    stale = sorted(f"{k} {n}" for k, n in readme_parts_table() if (k, n) not in registered)
    assert not stale, "README.md's parts table lists parts nothing registers: " + ", ".join(stale)


# ---------------------------------------------------------------- docs/cli.md


def test_cli_doc_has_a_section_per_command_with_every_option():
    doc = read("docs/cli.md")
    group = cli_group()
    assert set(group.commands) >= {"list", "show", "plugins", "recipes", "train", "sample", "eval"}
    problems = []
    for name, command in group.commands.items():
        body = section(doc, f"## `gancore {name}`")
        problems += [f"{name} {opt}" for opt in options(command) if opt not in body]
    glob = section(doc, "## Global options")
    problems += [f"(global) {opt}" for opt in options(group) if opt not in glob]
    assert not problems, "docs/cli.md does not document: " + ", ".join(problems)


HELP_PAGES = [[]] + [[name] for name in sorted(cli_group().commands)]


@pytest.mark.parametrize("args", HELP_PAGES, ids=lambda args: args[0] if args else "gancore")
def test_cli_doc_quotes_the_current_help(args):
    """The pasted ``--help`` texts are the commands' own, word for word."""
    result = CliRunner().invoke(gancore.cli.app, [*args, "--help"], prog_name="gancore", terminal_width=78)
    assert result.exit_code == 0, result.output
    assert squash(result.output) in squash(read("docs/cli.md")), (
        f"docs/cli.md quotes an outdated `gancore {' '.join(args)} --help`; paste:\n{result.output}"
    )


def _invocations(text: str) -> list[str]:
    """``gancore ...`` command lines in a markdown text: lines of code blocks and inline code."""
    found = []
    in_code = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        if stripped.startswith("$ "):
            stripped = stripped[2:]
        # Leading environment assignments: GANCORE_STRICT_PLUGINS=1 gancore plugins
        stripped = re.sub(r"^(?:[A-Z_]+=\S*\s+)+", "", stripped)
        if stripped.startswith("gancore ") or stripped == "gancore":
            found.append(stripped)
    found += re.findall(r"`(gancore(?: [^`]*)?)`", text)
    return found


def _check_invocation(line: str, group) -> str | None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        tokens = line.split()
    tokens = tokens[1:]  # "gancore"
    globals_ = options(group)
    i = 0
    while i < len(tokens) and tokens[i].startswith("--"):
        opt = globals_.get(tokens[i])
        if opt is None and tokens[i] != "--help":
            return f"{line!r}: no global option {tokens[i]}"
        i += 1 if opt is None or opt.is_flag else 2
    if i >= len(tokens) or not re.fullmatch(r"[a-z][a-z-]*", tokens[i]):
        return None  # `gancore`, `gancore --help`, `gancore COMMAND ...`
    name = tokens[i]
    if name not in group.commands:
        return f"{line!r}: no command {name!r}"
    allowed = options(group.commands[name]) | {"--help": None}
    for token in tokens[i + 1 :]:
        if token in ("|", ">", "&&", ";"):
            break
        flag = token.split("=", 1)[0]
        if flag.startswith("--") and flag not in allowed:
            return f"{line!r}: `gancore {name}` has no option {flag}"
    return None


DOCUMENTS = ["README.md", "docs/cli.md", "docs/recipes.md", "docs/plugins.md", "docs/architecture.md",
             "plugins/example-relativistic/README.md", "docs/augmentation.md", "docs/report.md",
             "docs/after-training.md", "docs/sweeps.md", "docs/distributed.md"]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documented_command_lines_use_real_commands_and_options(name):
    group = cli_group()
    problems = [p for line in _invocations(read(name)) if (p := _check_invocation(line, group))]
    assert not problems, "\n".join(problems)


def test_invocation_checker_catches_invented_options():
    group = cli_group()
    assert _check_invocation("gancore train gan-ring --set train.steps=5 --out runs/x", group) is None
    assert _check_invocation("gancore --block relativistic list loss --json", group) is None
    assert "no option --epochs" in _check_invocation("gancore train gan-ring --epochs 5", group)
    assert "no global option --verbose" in _check_invocation("gancore --verbose list", group)
    assert "no command 'fit'" in _check_invocation("gancore fit gan-ring", group)
    assert "no option --kind" in _check_invocation("gancore new-plugin mine --kind loss", group)


def test_cli_doc_names_the_environment_variables_and_exit_codes():
    doc = read("docs/cli.md")
    for var in ("GANCORE_BLOCK_PLUGINS", "GANCORE_DISABLE_PLUGIN_AUTOLOAD", "GANCORE_STRICT_PLUGINS", "GANCORE_DEBUG"):
        assert var in section(doc, "## Environment variables"), var
    codes = section(doc, "## Exit codes")
    for code in ("| 0 |", "| 2 |", "| 130 |"):
        assert code in codes, code


# ---------------------------------------------------------------- docs/recipes.md


SETTINGS = [
    (TrainSettings, "### `[train]`"),
    (EngineKeys, "### `[optim]` and `[optim.<group>]`"),
    (EmaSettings, "### `[ema]`"),
    (EvalSettings, "### `[eval]`"),
]


@pytest.mark.parametrize("model, heading", SETTINGS, ids=["train", "optim", "ema", "eval"])
def test_recipes_doc_has_a_row_per_setting(model, heading):
    body = section(read("docs/recipes.md"), heading)
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.MULTILINE))
    assert rows == set(model.model_fields), f"{heading}: documented {sorted(rows)}, the model has {sorted(model.model_fields)}"


@pytest.mark.parametrize("model, heading", SETTINGS, ids=["train", "optim", "ema", "eval"])
def test_recipes_doc_gives_each_setting_its_real_default(model, heading):
    """The default column of a settings table, read as TOML, equals the model's default."""
    body = section(read("docs/recipes.md"), heading)
    rows = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| (`[^`]+`|unset) \|", body, flags=re.MULTILINE)
    assert len(rows) == len(model.model_fields)
    for key, default in rows:
        expected = model.model_fields[key].default
        value = None if default == "unset" else tomllib.loads(f"v = {default.strip('`')}")["v"]
        assert value == (list(expected) if isinstance(expected, tuple) else expected), f"{heading} {key}: {default}"


def test_recipes_doc_lists_every_built_in_recipe():
    body = section(read("docs/recipes.md"), "## Built-in recipes")
    ours = first_party_plugins()
    registry = gancore.registry()
    missing = [
        f"| `{r.name}` | {r.plugin} | {r.summary} |"
        for r in sorted(registry.recipes.values(), key=lambda r: r.name)
        if r.plugin in ours and f"`{r.name}`" not in body
    ]
    assert not missing, "docs/recipes.md's built-in recipes table lacks:\n" + "\n".join(missing)
    stale = [n for n in re.findall(r"^\| `([^`]+)` \|", body, flags=re.MULTILINE) if n not in registry.recipes]
    assert not stale, f"docs/recipes.md lists recipes nothing registers: {stale}"


def test_recipes_doc_lists_the_resumable_keys():
    body = section(read("docs/recipes.md"), "## What may change on `--resume`")
    documented = set(re.findall(r"`((?:train|eval)\.[a-z_]+|callbacks)`", body))
    assert documented == set(RESUMABLE_KEYS)


def test_recipes_doc_lists_every_first_party_scheme():
    body = section(read("docs/recipes.md"), "### Part tables: `[scheme]`, `[data]` and the slots")
    ours = first_party_plugins()
    for entry in gancore.registry().entries("scheme"):
        if entry.plugin not in ours:
            continue
        row = next((line for line in body.splitlines() if line.startswith(f"| `{entry.name}` |")), None)
        assert row is not None, f"scheme {entry.name} has no row"
        for slot in entry.factory.slots:
            assert f"`{slot}`:" in row, f"scheme {entry.name}: slot {slot} is not documented"


# ---------------------------------------------------------------- kinds


@pytest.mark.parametrize("name", ["docs/architecture.md", "docs/plugins.md"])
def test_every_kind_is_documented(name):
    doc = read(name)
    missing = [kind for kind in gancore.KINDS if f"`{kind}`" not in doc]
    assert not missing, f"{name} does not describe the kinds {missing}"


def test_a_missing_document_fails_rather_than_skips():
    with pytest.raises(pytest.fail.Exception, match="docs/no-such-page.md is missing"):
        read("docs/no-such-page.md")


# ---------------------------------------------------------------- console examples
#
# Every ``$ gancore ...`` line of a ```console block runs, in the order of its document, in
# a fresh directory (so `runs/ring` trained by one example is there for the next), and
# prints what the document shows under it. The conventions of the expected text:
#
# - a line ``...`` stands for any number of lines (none included);
# - in the output of `train`, `eval`, `report` and `project`, decimal numbers (speeds,
#   seconds, losses, metric values, a page's size, distances) are masked on both sides:
#   they vary with the machine and its floating point;
#   everything else, step numbers and paths included, must match;
# - ``$ echo $?`` shows the exit code of the command before it;
# - the machine's memory is taken to be 25.3 GB, as in the examples, and the processes
#   that `--nproc` starts see no GPU (the examples are CPU runs).
#
# Commands that cannot run here are listed in NOT_RUN with the reason; anything else that
# is not `gancore` fails the test, so that no example goes unchecked by accident.

EXAMPLE_DOCUMENTS = ["README.md", "docs/cli.md", "docs/recipes.md", "docs/distributed.md", "docs/augmentation.md", "docs/networks.md",
                     "docs/after-training.md"]

NOT_RUN = {
    "gancore train gan-ring --set train.log_every=10 --out runs/int --device cpu":
        "stopped by hand with Ctrl-C",
    "gancore train --out runs/int --resume --set train.steps=10 --set train.log_every=5":
        "continues the run stopped by hand above",
    "torchrun --standalone --nproc-per-node=4 -m gancore train dcgan-mnist --out runs/dcgan":
        "needs 4 GPUs; --nproc, checked above, starts the same job",
    "torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=node01:29500 --rdzv-id=dcgan-1 "
    "-m gancore train dcgan-mnist --out /shared/runs/dcgan":
        "needs two machines",
}

MACHINE_MEMORY = 25_300_000_000
_DECIMAL = re.compile(r"-?\d+\.\d+(?:e[+-]?\d+)?")


@dataclass
class Example:
    document: str
    line: int
    command: str
    expected: list[str]


def console_examples(name: str) -> list[Example]:
    """The ``$ `` commands of a document's console blocks, each with the lines under it."""
    examples: list[Example] = []
    in_block = False
    continued = False
    for number, line in enumerate(read(name).splitlines(), start=1):
        if line.strip().startswith("```"):
            in_block = line.strip() == "```console"
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            examples.append(Example(name, number, line[2:], []))
        elif continued:
            examples[-1].command += " " + line.strip()
        elif examples:
            examples[-1].expected.append(line.rstrip())
        continued = bool(examples) and examples[-1].command.endswith("\\")
        if continued:
            examples[-1].command = examples[-1].command[:-1].rstrip()
    for example in examples:
        example.command = " ".join(example.command.split())
        while example.expected and not example.expected[-1]:
            example.expected.pop()
    return examples


def _pattern(lines: list[str]) -> re.Pattern[str]:
    parts = ["(?:.*\n)*?" if line == "..." else re.escape(line + "\n") for line in lines]
    return re.compile("".join(parts))


def _masked(lines: list[str]) -> list[str]:
    return [_DECIMAL.sub("<n>", line) for line in lines]


def output_matches(expected: list[str], actual: list[str], volatile: bool) -> bool:
    if volatile:
        expected, actual = _masked(expected), _masked(actual)
    return _pattern(expected).fullmatch("".join(line + "\n" for line in actual)) is not None


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """Exit code and output lines (stdout and stderr, as a terminal would show them)."""
    if "--nproc" in argv:  # the processes write to the real file descriptors
        env = {"CUDA_VISIBLE_DEVICES": ""} | env  # the examples' processes train on the CPU
        done = subprocess.run([sys.executable, "-m", "gancore", *argv], env=os.environ | env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        return done.returncode, [line.rstrip() for line in done.stdout.splitlines()]
    host = gancore._plugins._host
    try:
        result = CliRunner().invoke(gancore.cli.app, argv, env=env, prog_name="gancore")
    finally:
        gancore._plugins._host = host  # `--block` reloads the plugins for its invocation only
    return result.exit_code, [line.rstrip() for line in result.output.splitlines()]


def run_examples(examples: list[Example]) -> list[str]:
    """The examples whose output differs from the document's, each with what it printed."""
    problems = []
    code: int | None = None  # of the previous command; None when it did not run
    for example in examples:
        where = f"{example.document}:{example.line}: $ {example.command}"
        if example.command in NOT_RUN:
            code = None
            continue
        if example.command == "echo $?":
            if code is not None and example.expected != [str(code)]:
                problems.append(f"{where}\nprints {code}")
            continue
        words = shlex.split(example.command)
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if not words or words[0] != "gancore":
            problems.append(f"{where}\ncannot be checked: run it here or list it in NOT_RUN with the reason")
            continue
        code, actual = _run(words[1:], env)
        volatile = bool({"train", "eval", "report", "project"} & set(words[1:4]))
        if not output_matches(example.expected, actual, volatile):
            problems.append(f"{where}\nprints (exit code {code}):\n" + "\n".join(actual))
    return problems


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "docs/distributed.md" else n for n in EXAMPLE_DOCUMENTS]
)
def test_console_examples_print_what_the_document_shows(name, tmp_path, monkeypatch):
    from gancore import _footprint

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_footprint, "memory_bytes", lambda device: MACHINE_MEMORY)
    examples = console_examples(name)
    assert examples, f"{name} has no console examples"
    problems = run_examples(examples)
    assert not problems, "\n\n".join(problems)


def test_every_example_left_unrun_is_in_a_document_and_says_why():
    commands = {e.command for name in EXAMPLE_DOCUMENTS for e in console_examples(name)}
    assert set(NOT_RUN) <= commands, sorted(set(NOT_RUN) - commands)
    assert all(NOT_RUN.values())


def test_the_example_matcher():
    assert output_matches(["a", "...", "z"], ["a", "b", "c", "z"], volatile=False)
    assert output_matches(["a", "...", "z"], ["a", "z"], volatile=False)
    assert not output_matches(["a", "z"], ["a", "b", "z"], volatile=False)
    assert not output_matches(["a"], ["a", "extra"], volatile=False)
    assert output_matches(["step 10/20  9.5 it/s  loss 1.25"], ["step 10/20  101.3 it/s  loss 0.5"], volatile=True)
    assert not output_matches(["step 10/20  9.5 it/s"], ["step 11/20  9.5 it/s"], volatile=True)
    assert not output_matches(["default 0.5"], ["default 0.25"], volatile=False)


def test_the_complete_recipe_example_is_a_valid_recipe():
    body = section(read("docs/recipes.md"), "## A complete example")
    block = re.search(r"```toml\n(.*?)```", body, flags=re.DOTALL)
    assert block, "docs/recipes.md's complete example has no toml block"
    recipe = Recipe(tomllib.loads(block.group(1)), gancore.registry())
    assert recipe.description
