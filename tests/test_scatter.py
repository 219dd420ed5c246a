"""2D sample plots: the real points stay visible where generated points cover them."""

from __future__ import annotations

import matplotlib.axes
import torch

from gancore._artifacts import save_scatter


def test_real_points_are_drawn_over_the_generated_ones(tmp_path, monkeypatch):
    drawn: list[tuple[str, float, float]] = []
    scatter = matplotlib.axes.Axes.scatter

    def recording(self, *args, **kwargs):
        collection = scatter(self, *args, **kwargs)
        drawn.append((kwargs["label"], collection.get_zorder(), collection.get_alpha() or 1.0))
        return collection

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", recording)
    save_scatter(torch.randn(50, 2), tmp_path / "plot.png", real=torch.randn(50, 2))
    layers = {label: (zorder, alpha) for label, zorder, alpha in drawn}
    assert layers["real"][0] > layers["generated"][0]  # the data on top
    assert layers["generated"][1] < 1  # and what lies under it shows through
    assert (tmp_path / "plot.png").stat().st_size > 0
