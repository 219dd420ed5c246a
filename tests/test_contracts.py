"""Every registered part and recipe through the contract kit (gancore.testing), as
``pytest --gancore-plugin all`` runs it for an installed set of plugins."""

from __future__ import annotations

import pytest

from gancore.testing import cases


@pytest.mark.parametrize("case", cases(), ids=str)
def test_contract(case):
    case.run()
