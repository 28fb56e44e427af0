"""The figures' layout: the default samples.png keeps every tick label inside the figure, neighbouring panels'
labels apart and the title clear of the panel titles."""

from __future__ import annotations

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dotcli.plots import toy_figure, toy_figure_object


def _boxes(fig):
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = [(ax, t.get_window_extent(renderer)) for ax in fig.axes
             for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_visible() and t.get_text()]
    return renderer, ticks


def test_samples_png_labels_fit_and_do_not_touch(tmp_path):
    g = torch.Generator().manual_seed(0)
    real, before = torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g)
    fig = toy_figure_object(real, before, before * 0.9, "gaussians25 / dotcli_wgangp / dot")
    renderer, ticks = _boxes(fig)
    frame = fig.bbox
    assert ticks
    for _, box in ticks:  # nothing clipped at the bottom (or anywhere)
        assert box.x0 >= frame.x0 and box.y0 >= frame.y0 and box.x1 <= frame.x1 and box.y1 <= frame.y1
    x_labels = [(ax, t.get_window_extent(renderer)) for ax in fig.axes for t in ax.get_xticklabels()
                if t.get_text()]
    for i, (ax_a, a) in enumerate(x_labels):
        for ax_b, b in x_labels[i + 1:]:
            if ax_a is not ax_b:
                assert not a.overlaps(b), "tick labels of neighbouring panels run together"
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not title.overlaps(ax.title.get_window_extent(renderer)), "the title covers a panel's title"
    toy_figure(real, before, before * 0.9, "t", tmp_path / "samples.png")
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"
