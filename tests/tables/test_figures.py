"""Figures from what the records hold: metrics by step and one-parameter sweeps."""

from __future__ import annotations

from dotcli.tables import write_tables
from tests.tables.records import record


def test_figures_from_metrics_by_step_and_an_eps_sweep(tmp_path):
    by_step = {str(s): {"hq": 0.3 + s / 1000, "hq_std": 0.0, "hq_trials": [0.3 + s / 1000]} for s in (0, 50, 100)}
    recs = [record(params={"space": "target", "eps": eps, "steps": 100}, metrics={"hq": [0.5 + eps]},
                   by_step=by_step) for eps in (0.003, 0.01, 0.03)]
    written = {p.name for p in write_tables(recs, tmp_path)}
    assert {"toy_by_step.png", "toy_sweep_eps.png"} <= written and "toy_sweep_steps.png" not in written
    assert (tmp_path / "toy_sweep_eps.png").stat().st_size > 10_000
    md = (tmp_path / "toy.md").read_text()  # one column per eps: the sweep's parameter names the columns
    assert "| model | DOT (eps=0.003) | DOT (eps=0.01) | DOT (eps=0.03) |" in md


def test_a_dgflow_eta_sweep_gets_its_figure(tmp_path):
    recs = [record(method="dgflow", params={"f": "kl", "eta": eta, "steps": 25, "gamma": 0.01},
                   metrics={"hq": [0.4 + eta]}) for eta in (0.01, 0.03, 0.1)]
    written = {p.name for p in write_tables(recs, tmp_path)}
    assert "toy_sweep_eta.png" in written and "toy_sweep_eps.png" not in written
    assert "DGflow (eta=0.03)" in (tmp_path / "toy.md").read_text()


def test_sweep_legends_sort_numbers_as_numbers(tmp_path, monkeypatch):
    from dotcli import plots
    from dotcli.tables.figures import natural_key

    drawn = {}

    def record_labels(curves, metrics, xlabel, title, *args, **kwargs):
        drawn[title] = [c.label for c in curves]

    monkeypatch.setattr(plots, "curves_figure", record_labels)
    recs = [record(params={"space": "target", "eps": eps, "steps": steps}, metrics={"hq": [0.5 + eps]})
            for steps in (100, 10, 30) for eps in (0.003, 0.01)]
    write_tables(recs, tmp_path)
    steps = [label.rsplit("steps=", 1)[1].rstrip(")") for label in drawn[next(k for k in drawn if "eps" in k)]]
    assert steps == ["10", "30", "100"]
    assert sorted(["eps=0.1", "eps=0.03", "eps=1e-05"], key=natural_key) == ["eps=1e-05", "eps=0.03", "eps=0.1"]
