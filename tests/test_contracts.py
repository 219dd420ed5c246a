"""Every registered part and recipe through the contract kit (gancore.testing), as
``pytest --gancore-plugin all`` runs it for an installed set of plugins."""

from __future__ import annotations

import pytest

from gancore.testing import cases


@pytest.fixture
def meaningful_features(monkeypatch):
    """The suite's Inception weights are random (no test downloads the published file): in
    that space, uniform noise lands inside the real images' neighbourhoods, so a metric's
    contract (real data reads better than noise) says nothing about the metric. Metrics are
    checked on RGB images in pixel space instead; the inception features have their own
    contract cases and are held to an independent reference in test_inception.py."""
    from gancore_metrics import common

    chosen = common.data_features
    monkeypatch.setattr(common, "data_features", lambda x: "identity" if chosen(x) == "inception" else chosen(x))


@pytest.mark.parametrize("case", cases(), ids=str)
def test_contract(case, request):
    if case.kind == "metric":
        request.getfixturevalue("meaningful_features")
    case.run()
