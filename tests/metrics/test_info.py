"""Metric display declarations: one per record key, collected from the metric modules."""

from __future__ import annotations

import importlib

from dotcli.metrics import fidelity, toy
from dotcli.metrics import prdc as prdc_function
from dotcli.metrics.info import metric_infos, metric_planes


def test_every_metric_module_declares_its_metrics_once():
    infos = metric_infos()
    prdc = importlib.import_module("dotcli.metrics.prdc")  # the module (dotcli.metrics.prdc is the function)
    intra = importlib.import_module("dotcli.metrics.intra_fid")
    declared = [i.key for module in (toy, fidelity, intra, prdc) for i in module.METRICS]
    assert list(infos) == declared and len(set(declared)) == len(declared)
    assert infos["fid"].higher is False and infos["hq"].higher is True and infos["is_mean"].split_std == "is_std"
    assert all(i.protocol.startswith("docs/protocol.md#") and i.kind in ("toy", "image", "any") for i in infos.values())
    assert prdc_function is prdc.prdc


def test_planes_name_declared_metrics():
    assert metric_planes() == [("precision", "recall", "precision_recall"), ("density", "coverage", "density_coverage")]
    assert all(x in metric_infos() and y in metric_infos() for x, y, _ in metric_planes())


def test_toy_metric_keys_are_the_ones_the_toy_metrics_return():
    import torch

    modes = torch.zeros(1, 2)
    out = toy.toy_metrics(torch.zeros(4, 2), torch.zeros(4, 2), modes, 0.05)
    assert set(out) == {i.key for i in toy.METRICS}
