"""Plugin loading: isolation of failures, duplicates, blocking, autoload, strict mode."""

from __future__ import annotations

import types

import pytest

import gancore
from gancore import DuplicateNameError, PluginError

GOOD = """
import gancore
from torch import nn

class Tanh(gancore.Normalization):
    '''A test normalization.'''
    def layer(self, num_features, *, spatial):
        return nn.Tanh()

@gancore.hookimpl
def register_parts(register):
    register("normalization", "test-tanh", Tanh)
"""


def test_first_party_plugins_load():
    host = gancore.host()
    for name in ("nets", "norms", "losses", "data", "schemes", "recipes"):
        assert host.plugins[name].status == "loaded", host.plugins[name].error
        assert host.plugins[name].first_party


def test_third_party_plugin_registers(plugin_dist, fresh_host):
    plugin_dist("good", GOOD, version="2.0.1")
    host = fresh_host()
    assert host.plugins["good"].status == "loaded"
    assert host.plugins["good"].version == "2.0.1"
    entry = host.registry.get("normalization", "test-tanh")
    assert entry.plugin == "good" and entry.summary == "A test normalization."


def test_failing_import_is_reported_and_others_work(plugin_dist, fresh_host):
    plugin_dist("broken", "raise ImportError('missing dependency foo')", version="1.2.3")
    with pytest.warns(gancore.PluginWarning, match="plugin 'broken' .*1.2.3.* skipped: ImportError: missing dependency foo"):
        host = fresh_host()
    info = host.plugins["broken"]
    assert info.status == "failed" and info.version == "1.2.3"
    assert "missing dependency foo" in info.error
    assert host.registry.get("generator", "mlp")  # the rest still works


def test_a_misspelt_hook_fails_the_plugin_naming_the_hook(plugin_dist, fresh_host):
    plugin_dist("typo", GOOD.replace("def register_parts(", "def register_part("), version="0.3.0")
    host = fresh_host()
    info = host.plugins["typo"]
    assert info.status == "failed"
    assert info.error.startswith("unknown hook 'register_part'; did you mean 'register_parts'")
    assert host.registry.get("generator", "mlp")  # the others still load
    from typer.testing import CliRunner

    from gancore.cli import app

    listed = CliRunner().invoke(app, ["plugins"])
    assert "typo" in listed.output and "failed" in listed.output and "register_part" in listed.output


def test_failing_registration_registers_nothing(plugin_dist, fresh_host):
    plugin_dist("half", """
import gancore
from torch import nn
@gancore.hookimpl
def register_parts(register):
    register("normalization", "half-first", gancore.Normalization)
    raise RuntimeError("broke half-way")
""")
    host = fresh_host()
    assert host.plugins["half"].status == "failed"
    assert "broke half-way" in host.plugins["half"].error
    assert ("normalization", "half-first") not in host.registry.parts


def test_duplicate_name_names_both_plugins(plugin_dist, fresh_host):
    plugin_dist("dupe", """
import gancore
@gancore.hookimpl
def register_parts(register):
    register("normalization", "spectral", gancore.Normalization)
""")
    host = fresh_host()
    info = host.plugins["dupe"]
    assert info.status == "failed"
    assert "'norms'" in info.error and "'dupe'" in info.error and "spectral" in info.error
    # the first-party part is untouched
    assert host.registry.get("normalization", "spectral").plugin == "norms"


def test_registry_duplicate_raises():
    reg = gancore.registry().__class__()
    reg.add("loss", "x", gancore.AdversarialLoss, "a")
    with pytest.raises(DuplicateNameError, match="'a'.*'b'"):
        reg.add("loss", "x", gancore.AdversarialLoss, "b")


def test_strict_mode_raises(plugin_dist, fresh_host, monkeypatch):
    plugin_dist("broken", "raise ImportError('nope')")
    monkeypatch.setenv("GANCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken.*nope"):
        fresh_host()


def test_blocked_by_env_and_argument(plugin_dist, fresh_host, monkeypatch):
    plugin_dist("good", GOOD)
    monkeypatch.setenv("GANCORE_BLOCK_PLUGINS", "good")
    host = fresh_host()
    assert host.plugins["good"].status == "blocked"
    assert ("normalization", "test-tanh") not in host.registry.parts
    monkeypatch.delenv("GANCORE_BLOCK_PLUGINS")
    host = fresh_host(block={"good"})
    assert host.plugins["good"].status == "blocked"


def test_autoload_off_keeps_first_party(plugin_dist, fresh_host, monkeypatch):
    plugin_dist("good", GOOD)
    monkeypatch.setenv("GANCORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = fresh_host()
    assert host.plugins["good"].status == "disabled"
    assert host.plugins["nets"].status == "loaded"


def test_unknown_names_suggest_close_matches():
    reg = gancore.registry()
    with pytest.raises(gancore.UnknownNameError, match=r"did you mean 'spectral'"):
        reg.get("normalization", "spectal")
    with pytest.raises(gancore.UnknownNameError, match=r"unknown kind 'genrator'; did you mean 'generator'"):
        reg.get("genrator", "mlp")


def test_unknown_kind_in_registration_fails_plugin(plugin_dist, fresh_host):
    plugin_dist("oddkind", """
import gancore
@gancore.hookimpl
def register_parts(register):
    register("optimiser", "x", gancore.Normalization)
""")
    host = fresh_host()
    assert host.plugins["oddkind"].status == "failed"
    assert "unknown kind 'optimiser'" in host.plugins["oddkind"].error


# What each hook's documented ``register(...)`` call is made with, every argument by its
# documented name, and what the registry must then hold. A new hook needs a line here.
HOOK_CALLS = {
    "register_kinds": "register(kind='doc-widget', summary='A kind registered by keyword.', interface=None)",
    "register_parts": "register(kind='normalization', name='doc-tanh', factory=Tanh, summary='Registered by keyword.')",
    "register_recipes": "register(name='doc-ring', path=RECIPE)",
}

DOCUMENTED = '''
import gancore
from torch import nn

SEEN = {}
RECIPE = %(recipe)r


class Tanh(gancore.Normalization):
    """A test normalization."""

    def layer(self, num_features, *, spatial):
        return nn.Tanh()


def widget(size: int = 3):
    """A part of the kind the plugin registers."""
    return size
'''


def _documented_call(hook) -> dict[str, str | None]:
    """``Call ``register(kind, name, factory, summary=None)``...`` -> {parameter: default}."""
    import re

    found = re.search(r"``register\(([^`]*)\)``", hook.__doc__ or "")
    assert found, f"{hook.__name__}'s docstring does not show its register(...) call"
    params = {}
    for item in filter(None, (p.strip() for p in found.group(1).split(","))):
        name, _, default = item.partition("=")
        params[name] = default or None
    return params


def test_each_hook_gets_a_register_callback_taking_its_documented_arguments(plugin_dist, fresh_host, tmp_path):
    """Every hook of HookSpecs is called once per plugin, with ``register=``; the callback
    takes the parameters the hook's docstring documents (by those names, the optional ones
    with those defaults), and what is registered through it is in the registry after."""
    import importlib
    import inspect

    from gancore._hooks import HookSpecs

    hooks = sorted(n for n in vars(HookSpecs) if n.startswith("register_"))
    assert hooks and set(hooks) == set(HOOK_CALLS), "a hook without a behavioural check in HOOK_CALLS"
    recipe = tmp_path / "doc-ring.toml"
    recipe.write_text('description = "a recipe registered by keyword"\n[data]\nname = "ring"\n')
    code = DOCUMENTED % {"recipe": str(recipe)}
    for hook in hooks:
        code += f"\n\n@gancore.hookimpl\ndef {hook}(register):\n    SEEN.setdefault({hook!r}, []).append(register)\n"
        code += f"    {HOOK_CALLS[hook]}\n"
        if hook == "register_parts" and "register_kinds" in hooks:
            code += "    register('doc-widget', 'w', widget)\n"
    module = plugin_dist("documented", code)
    host = fresh_host()
    assert host.plugins["documented"].status == "loaded", host.plugins["documented"].error
    seen = importlib.import_module(module).SEEN
    assert {hook: len(calls) for hook, calls in seen.items()} == {hook: 1 for hook in hooks}
    for hook in hooks:
        documented = _documented_call(getattr(HookSpecs, hook))
        actual = inspect.signature(seen[hook][0]).parameters
        required = {n for n, p in actual.items() if p.default is inspect.Parameter.empty}
        assert required == {n for n, d in documented.items() if d is None}, hook
        for name, default in documented.items():
            assert name in actual, f"{hook}: register has no parameter {name!r}"
            if default is not None:
                assert repr(actual[name].default) == default, f"{hook}: {name} defaults to {actual[name].default!r}"

    assert host.registry.get("normalization", "doc-tanh").summary == "Registered by keyword."
    assert host.registry.recipe("doc-ring").summary == "a recipe registered by keyword"
    if "register_kinds" in hooks:  # kinds come first: the same plugin's parts may be of its kinds
        assert host.registry.build("doc-widget", "w", {"size": 5}) == 5


def test_a_plugin_raising_system_exit_is_a_failed_plugin(plugin_dist, fresh_host):
    plugin_dist("exits", "raise SystemExit(3)")
    plugin_dist("good", GOOD)
    host = fresh_host()
    assert host.plugins["exits"].status == "failed" and "SystemExit" in host.plugins["exits"].error
    assert host.plugins["good"].status == "loaded"


def test_a_third_party_entry_point_cannot_displace_a_first_party_name(plugin_dist, fresh_host):
    plugin_dist("nets", GOOD)  # a third party's entry point named like gancore's "nets"
    host = fresh_host()
    assert host.plugins["nets"].first_party and host.plugins["nets"].status == "loaded"
    clash = [p for name, p in host.plugins.items() if name.startswith("nets (")]
    assert len(clash) == 1 and clash[0].status == "failed" and "taken by gancore" in clash[0].error
    assert host.registry.get("generator", "mlp").plugin == "nets"


def test_unreadable_hints_and_missing_recipe_files_fail_at_load(plugin_dist, fresh_host):
    plugin_dist("hints", """
import gancore

def factory(size: "NoSuchType" = 3):
    '''A factory whose hint names nothing.'''
    return size

@gancore.hookimpl
def register_parts(register):
    register("loss", "unreadable", factory)
""")
    plugin_dist("norecipe", """
import gancore

@gancore.hookimpl
def register_recipes(register):
    register("ghost", "/nonexistent/ghost.toml")
""")
    host = fresh_host()
    assert host.plugins["hints"].status == "failed" and "type hints" in host.plugins["hints"].error
    assert host.plugins["norecipe"].status == "failed" and "no file at" in host.plugins["norecipe"].error
    assert ("loss", "unreadable") not in host.registry.parts and "ghost" not in host.registry.recipes


def test_first_party_plugins_share_the_core_and_the_support_package_only():
    """A first-party plugin imports gancore and the internal _gancore_support (the helpers
    first-party plugins share), never another plugin; _gancore_support imports no plugin,
    and a third-party example relies on neither, so no plugin breaks another."""
    import ast
    from pathlib import Path

    support = "_gancore_support"
    root = Path(__file__).resolve().parents[1] / "plugins"
    packages = sorted(p for p in root.iterdir() if (p / "__init__.py").is_file() or p.name.startswith("example"))
    assert support in {p.name for p in packages}
    crossing = []
    for package in packages:
        # A first-party plugin (or the support package) is its folder; an example
        # distribution holds its package (and may hold tests of it, which import it).
        if package.name.startswith("gancore_"):
            allowed = {package.name, support}
        elif package.name == support:
            allowed = {support}
        else:
            allowed = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
        for path in package.rglob("*.py"):
            if "build" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if (top.startswith("gancore_") or top == support) and top not in allowed:
                        crossing.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    assert not crossing, crossing


# ---------------------------------------------------------------- kinds plugins add

SKETCHES = """
import gancore


class Sketch:
    '''What a part of kind "sketch" is: something that draws.'''

    def draw(self) -> str:
        raise NotImplementedError


class Outline(Sketch):
    '''Draws an outline.

    Args:
        strokes: how many strokes it takes
    '''

    def __init__(self, strokes: int = 3) -> None:
        self.strokes = strokes

    def draw(self) -> str:
        return "/" * self.strokes


def not_a_sketch() -> object:
    '''Draws nothing.'''
    return object()


@gancore.hookimpl
def register_kinds(register):
    register("sketch", "draws a picture of the samples", Sketch)


@gancore.hookimpl
def register_parts(register):
    register("sketch", "outline", Outline)
    register("sketch", "nothing", not_a_sketch)
"""


def test_a_plugin_registers_a_kind_and_parts_of_it(plugin_dist, fresh_host):
    plugin_dist("sketches", SKETCHES)
    plugin_dist("texture", """
import gancore

class Shading:
    '''Shades the picture.'''
    def draw(self) -> str:
        return "#"

@gancore.hookimpl
def register_parts(register):
    register("sketch", "shading", Shading)  # a kind of a plugin loaded before this one (by name)
""")
    host = fresh_host()
    assert host.plugins["sketches"].status == "loaded", host.plugins["sketches"].error
    assert host.plugins["texture"].status == "loaded", host.plugins["texture"].error
    kind = host.registry.kinds["sketch"]
    assert (kind.plugin, kind.summary, kind.interface.__name__) == ("sketches", "draws a picture of the samples", "Sketch")
    assert host.registry.names("sketch") == ["nothing", "outline", "shading"]
    assert host.registry.build("sketch", "outline", {"strokes": 2}).draw() == "//"
    with pytest.raises(TypeError, match="sketch 'nothing' .* built a object, not the Sketch a sketch must be"):
        host.registry.build("sketch", "nothing")
    assert "sketch" not in gancore.KINDS and "sketch" not in gancore.PluginHost(block={"sketches"}).registry.kinds
    from typer.testing import CliRunner

    from gancore.cli import app

    listed = CliRunner().invoke(app, ["list", "sketch"])
    assert listed.exit_code == 0 and "outline" in listed.output and "shading" in listed.output, listed.output
    shown = CliRunner().invoke(app, ["show", "sketch", "outline"])
    assert shown.exit_code == 0 and "strokes" in shown.output and "how many strokes" in shown.output, shown.output


def test_a_part_of_an_unknown_kind_fails_its_plugin_listing_the_kinds(fresh_host):
    host = fresh_host()
    module = types.ModuleType("early")
    module.register_parts = gancore.hookimpl(lambda register: register("sketch", "early", object))
    info = host.register(module, "early")
    assert info.status == "failed"
    assert "unknown kind 'sketch'" in info.error and "(available: augment, callback, critic, " in info.error


def test_a_kind_registered_twice_fails_the_later_plugin_naming_both(plugin_dist, fresh_host):
    plugin_dist("sketches", SKETCHES)
    plugin_dist("tracing", """
import gancore

@gancore.hookimpl
def register_kinds(register):
    register("sketch", "traces a picture")

@gancore.hookimpl
def register_parts(register):
    register("sketch", "trace", object)
""")
    plugin_dist("lossy", """
import gancore

@gancore.hookimpl
def register_kinds(register):
    register("loss", "another loss")
""")
    host = fresh_host()
    error = host.plugins["tracing"].error
    assert host.plugins["tracing"].status == "failed"
    assert "kind 'sketch' is registered twice: by plugin 'sketches' and by plugin 'tracing'" in error
    assert ("sketch", "trace") not in host.registry.parts  # all or nothing
    assert host.registry.kinds["sketch"].plugin == "sketches"
    assert "kind 'loss' is registered twice: by gancore itself and by plugin 'lossy'" in host.plugins["lossy"].error


def test_a_kind_needs_a_command_line_name_and_a_summary():
    reg = gancore.registry().__class__()
    with pytest.raises(ValueError, match="lowercase words joined by hyphens"):
        reg.add_kind("Frame Predictor", "predicts frames", "p")
    with pytest.raises(ValueError, match="summary"):
        reg.add_kind("predictor", "", "p")
    reg.add_kind("frame-predictor", "predicts frames", "p")
    assert "frame-predictor" in reg.kinds and "frame-predictor" not in gancore.registry().kinds
