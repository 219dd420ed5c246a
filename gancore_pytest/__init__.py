"""The pytest side of gancore's contract kit (``gancore.testing``): ``--gancore-plugin
NAME`` adds the contract cases of every part plugin NAME registers (``all``: of everything
installed) to the session. Without test paths on the command line the session holds those
cases alone; with paths, they run next to the tests found there.

pytest loads this module (through the ``pytest11`` entry point) in every session of an
environment where gancore is installed, so it lives outside the ``gancore`` package and
imports gancore, and with it torch, only when the option is given.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gancore")
    group.addoption(
        "--gancore-plugin", action="append", default=[], metavar="NAME",
        help="run gancore's contract suite over the parts of plugin NAME (an entry-point name; "
             "'all' for every installed plugin); repeatable",
    )


def pytest_configure(config: pytest.Config) -> None:
    # No paths given: pytest would collect the folder's own suite (its testpaths, or
    # everything under the current directory), which, in a project such as gancore's
    # own, runs hundreds of tests that are not the plugin's. The kit's cases are what was
    # asked for; an author who wants their tests too names them.
    if config.getoption("gancore_plugin") and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = []


class ContractItem(pytest.Item):
    """One contract case; its failure shows the kit's one-line message, not a traceback."""

    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        self.case.run()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from gancore.testing import ContractError

        error = excinfo.value
        if isinstance(error, ContractError):
            if error.__cause__ is None:
                return str(error)
            # The part crashed: the one line naming it, then where in the part's code.
            import traceback

            cause = error.__cause__
            return f"{error}\n\n" + "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "gancore-contracts", None, self.name


def _item(session: pytest.Session, name: str, case: Any) -> ContractItem:
    return ContractItem.from_parent(session, name=name, nodeid=name, case=case)


class _Failed:
    def __init__(self, plugin: str, error: str) -> None:
        self.plugin, self.error = plugin, error

    def run(self) -> None:
        from gancore.testing import ContractError

        raise ContractError(f"plugin {self.plugin!r} failed to load: {self.error}")


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they select contract cases too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    names: list[str] = config.getoption("gancore_plugin")
    if not names:
        return
    import gancore
    from gancore.testing import cases

    host = gancore.host()
    added: list[pytest.Item] = []
    for name in names:
        if name != "all" and name not in host.plugins:
            raise pytest.UsageError(
                f"--gancore-plugin {name}: no such plugin (installed: {', '.join(sorted(host.plugins))})")
        info = host.plugins.get(name)
        if info is not None and info.status != "loaded":
            raise pytest.UsageError(f"--gancore-plugin {name}: the plugin is {info.status}: {info.error}")
        if name == "all":  # a plugin that did not load is a failure of the whole install
            for failed in host.failures():
                added.append(_item(
                    session, f"gancore[all]::plugin:{failed.name}", _Failed(failed.name, failed.error)))
        for case in cases(name):
            added.append(_item(session, f"gancore[{name}]::{case.id}", case))
    items.extend(added)
    # Reported like a collector's findings, so "collected N items" counts the cases too.
    session.ihook.pytest_collectreport(report=pytest.CollectReport("gancore", "passed", None, list(added)))
