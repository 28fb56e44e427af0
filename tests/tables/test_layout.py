"""The wide layout: row and column labels, and the panels the metrics declare."""

from __future__ import annotations

from dotcli.tables import build_rows
from dotcli.tables.layout import add_labels, panels
from tests.tables.records import record


def image(method="none", n=1000, features="fmnist-classifier", params=None):
    ev = {"feature_extractor": {"name": features}, "dataset": {"name": "fashion_mnist"}}
    return record(dataset="fashion_mnist", model="dotcli_sndcgan", method=method, kind="image", n=n, params=params,
                  metrics={"fid": [100.0 + n / 1000]}, evaluation=ev)


def test_rows_name_the_feature_space_and_the_sample_count_where_they_differ():
    recs = [image(n=10000), image(n=2000), image(n=1000, features="inception-v3-compat"),
            image("dot", n=10000, params={"eps": 0.003, "steps": 40}),
            image("dot", n=2000, params={"eps": 0.01, "steps": 60}), image("dot", n=2000, params={"eps": 0.03,
                                                                                                 "steps": 60})]
    df = add_labels(build_rows(recs))
    assert set(df.row) == {"dotcli_sndcgan (fmnist-classifier, n=10000)", "dotcli_sndcgan (fmnist-classifier, n=2000)",
                           "dotcli_sndcgan (inception-v3-compat, n=1000)"}
    # the method's label (MethodInfo) and the parameters it declares that differ between its cells
    assert set(df.col) == {"none", "DOT (eps=0.003, steps=40)", "DOT (eps=0.01, steps=60)", "DOT (eps=0.03, steps=60)"}


def test_panels_follow_the_metrics_declarations():
    prdc = ["precision", "recall", "density", "coverage"]
    assert panels("toy") == [["hq"], ["modes"], ["emd"], ["is_mean", "fid"], ["kid_mean"], prdc]
    assert panels("image")[:2] == [["is_mean", "fid"], ["kid_mean"]] and prdc in panels("image")
