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
    assert panels("toy") == [["hq"], ["modes"], ["emd"], ["is_mean", "fid"], ["kid_mean"], ["intra_fid"], prdc]
    assert panels("image")[:2] == [["is_mean", "fid"], ["kid_mean"]] and prdc in panels("image")


def wide_columns(recs, skips=(), failures=()):
    from dotcli.tables.render import family_markdown

    df = build_rows(recs, failures, skips)
    md, _, wides = family_markdown(df, "toy")
    return md, {c for w in wides for c in w.columns}


def test_a_skipped_or_failed_cell_beside_a_finished_one_adds_no_column():
    from tests.tables.records import failure, skip

    ok = record(method="dot")
    other_trials = skip(model="dotcli_wgangp", method="dot")  # another variant of the same cell: a smaller try
    other_trials["config"] = {**other_trials["config"], "trials": 10}
    other_eps = skip(model="dotcli_wgangp", method="dot")
    other_eps["config"] = {**other_eps["config"], "method": {**other_eps["config"]["method"], "eps": 0.05}}
    failed = failure(model="dotcli_wgangp", method="dot")
    failed["config"] = {**failed["config"], "n_samples": 7}  # another sample count: no row of its own either
    for notes in ([other_trials], [other_eps], [failed], [other_trials, other_eps]):
        md, cols = wide_columns([ok], skips=[n for n in notes if "skipped" in n],
                                failures=[n for n in notes if "error" in n])
        assert cols == {"DOT"}, (notes, cols)
        assert "[" not in "".join(cols) and "DOT (eps" not in md.split("## Skipped")[0]
        assert "n=7" not in md.split("## Skipped")[0]
        assert "## Skipped and failed cells" in md  # why they are missing: in the notes, not in new columns


def test_cells_of_a_method_with_no_finished_cell_share_its_plain_column():
    from tests.tables.records import skip

    a, b = skip(model="tanaka_wgangp", method="dot"), skip(model="tanaka_wgangp", method="dot")
    b["config"] = {**b["config"], "method": {**b["config"]["method"], "eps": 0.05}}
    md, cols = wide_columns([record(method="none")], skips=[a, b])
    assert cols == {"none", "DOT"} and "*skipped: checkpoint missing*" in md
    # finished cells that really differ still get their own columns (their parameters, else the variant hash)
    two = [record(method="dot"), record(method="dot", params={"space": "target", "eps": 0.05, "steps": 100})]
    assert wide_columns(two)[1] == {"DOT (eps=0.01)", "DOT (eps=0.05)"}
