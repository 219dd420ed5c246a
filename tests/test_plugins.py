"""Plugin loading: isolation of failures, duplicates, blocking, autoload, strict mode."""

from __future__ import annotations

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


def test_every_hook_has_a_docstring():
    from gancore._hooks import HookSpecs

    hooks = [n for n in vars(HookSpecs) if n.startswith("register_")]
    assert hooks and all(getattr(HookSpecs, n).__doc__ for n in hooks)


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


def test_first_party_plugins_import_gancore_never_each_other():
    """What plugins share is the core's API (gancore.LayerMaker, gancore.set_domain,
    Dataset.modes, ...): a third party can use all of it, and no plugin breaks another."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "plugins"
    crossing = []
    for package in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file() or p.name.startswith("example")):
        for path in package.rglob("*.py"):
            if "build" in path.parts:
                continue
            own = path.relative_to(root).parts[0] if package.name.startswith("gancore_") else path.parent.name
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top.startswith("gancore_") and top != own:
                        crossing.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    assert not crossing, crossing
