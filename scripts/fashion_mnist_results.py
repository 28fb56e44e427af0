"""Collect the Fashion-MNIST run records into results/fashion_mnist.{md,csv} and a FID-vs-steps figure.

    python scripts/fashion_mnist_results.py runs/fmnist --out results

Every ``result.json`` under the given directories with ``dataset == fashion_mnist`` becomes one row per
sampler setting (method + eps/steps/optimizer/space). Records scored with the classifier
(``metrics.feature_extractor=fmnist-classifier``) give the ``clf_*`` columns, records scored with the
Inception (``inception-v3-compat``, e.g. the ``dot-weights`` file) the ``inc_*`` columns; both kinds of
record of the same setting share a row. The figure plots classifier FID against the DOT/naive step count
from ``metrics_by_step`` (``method.record_every``).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

KEYS = ("method", "space", "optimizer", "eps", "steps")
COLUMNS = ("setting", "method", "space", "optimizer", "eps", "steps", "k_eff", "n_clf", "clf_fid", "clf_kid",
           "clf_is", "best_step", "clf_fid_best", "clf_is_best", "n_inc", "inc_fid", "inc_kid", "wall_s",
           "sample_s", "g_evals_per_sample", "d_evals_per_sample", "acceptance_rate")


def records(dirs: list[Path]) -> list[dict[str, Any]]:
    out = []
    for d in dirs:
        for path in sorted(d.rglob("result.json")):
            rec = json.loads(path.read_text())
            if rec.get("dataset") == "fashion_mnist":
                rec["_path"] = str(path)
                out.append(rec)
    return out


def setting(rec: dict[str, Any]) -> tuple:
    p = rec["params"]
    if rec["method"] in ("dot", "naive"):
        return (rec["method"], p.get("space"), p.get("optimizer"), p.get("eps"), p.get("steps"))
    return (rec["method"], None, None, None, None)


def label(key: tuple) -> str:
    method, space, opt, eps, steps = key[:5]
    if space is None:
        return method
    k = f", K {key[5]}" if len(key) > 5 and key[5] not in (None, "auto") else ""
    return f"{method} ({space}, {opt}, eps {eps:g}{k}, {steps} steps)"


def extractor(rec: dict[str, Any]) -> str:
    name = rec["evaluation"].get("feature_extractor", {}).get("name", "")
    return "clf" if name == "fmnist-classifier" else "inc"


def rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table: dict[tuple, dict[str, Any]] = {}
    for rec in recs:
        key = setting(rec)
        key = (*key, rec["params"].get("k_eff") if rec["method"] in ("dot", "naive") else None, rec["n_samples"])
        row = table.setdefault(key, {"setting": label(key), **dict(zip(KEYS, key[:5], strict=True))})
        kind, m = extractor(rec), rec["metrics"]
        row[f"n_{kind}"] = rec["n_samples"]
        row[f"{kind}_fid"] = m.get("fid")
        row[f"{kind}_kid"] = m.get("kid_mean")
        if kind == "clf":
            row["clf_is"] = m.get("is_mean")
            by_step = rec.get("metrics_by_step") or {}
            if by_step:  # the recorded step with the lowest FID (record_every)
                best = min(by_step, key=lambda s: by_step[s]["fid"])
                row["best_step"], row["clf_fid_best"] = int(best), by_step[best]["fid"]
                row["clf_is_best"] = by_step[best].get("is_mean")
            cost = rec["cost"]  # cost columns from the classifier run (the 10k-sample one)
            for c in ("wall_s", "sample_s", "g_evals_per_sample", "d_evals_per_sample", "acceptance_rate"):
                row[c] = cost.get(c)
            setup = rec["params"].get("setup") or [{}]
            row["k_eff"] = setup[0].get("k_eff")
    order = {"none": 0, "naive": 1, "drs": 2, "dot": 3}
    return sorted(table.values(), key=lambda r: (r.get("n_clf") is None, -(r.get("n_clf") or 0),
                                                 order.get(r["method"], 9), r.get("eps") or 0, r.get("steps") or 0))


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def write_table(table: list[dict[str, Any]], out: Path) -> None:
    with open(out / "fashion_mnist.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in table:
            w.writerow({c: r.get(c) for c in COLUMNS})
    shown = ("setting", "k_eff", "n_clf", "clf_fid", "clf_kid", "clf_is", "best_step", "clf_fid_best", "clf_is_best",
             "n_inc", "inc_fid", "inc_kid", "sample_s",
             "g_evals_per_sample", "d_evals_per_sample", "acceptance_rate")
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in shown) + " |" for r in table]
    (out / "fashion_mnist_table.md").write_text("\n".join(lines) + "\n")


def write_figure(recs: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for rec in recs:
        if extractor(rec) != "clf" or not rec.get("metrics_by_step"):
            continue
        steps = sorted(rec["metrics_by_step"], key=int)
        key = (*setting(rec), rec["params"].get("k_eff"))
        ax.plot([int(s) for s in steps], [rec["metrics_by_step"][s]["fid"] for s in steps], marker=".",
                ls="-" if rec["n_samples"] >= 10000 else "--",
                label=f"{label(key).replace(' steps)', ')')}, n={rec['n_samples']}")
    for rec in recs:  # the bare G at each sample count
        if rec["method"] == "none" and extractor(rec) == "clf":
            ax.axhline(rec["metrics"]["fid"], color="k", lw=1, ls="-" if rec["n_samples"] >= 10000 else "--",
                       label=f"bare G, n={rec['n_samples']}")
    ax.set_xlabel("update steps")
    ax.set_ylabel("classifier FID (n samples)")
    ax.set_title("Fashion-MNIST, dotcli_sndcgan: FID vs. steps")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(out / "fashion_mnist_fid_vs_steps.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("results"))
    args = ap.parse_args(argv)
    recs = records(args.dirs)
    if not recs:
        raise SystemExit(f"no fashion_mnist records under {', '.join(map(str, args.dirs))}")
    args.out.mkdir(parents=True, exist_ok=True)
    table = rows(recs)
    write_table(table, args.out)
    write_figure(recs, args.out)
    print(f"{len(recs)} records -> {args.out}/fashion_mnist.csv, fashion_mnist_table.md, "
          "fashion_mnist_fid_vs_steps.png")


if __name__ == "__main__":
    main()
