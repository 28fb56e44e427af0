# dotcli: every target creates the virtual environment it needs when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint reproduce table toy-gans clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test,launchers]"
	touch $(STAMP)

## run: install, then run the embedded default (25 Gaussians, DOT, shipped checkpoints; no downloads)
run: $(STAMP)
	$(BIN)/dot-run

## test: install, then run the whole test suite (offline, CPU)
test: $(STAMP)
	$(BIN)/ruff check dotcli tests scripts
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dotcli tests scripts

## reproduce: the paper's grid (configs/experiment/*_table.yaml: toys, CIFAR-10, STL-10, ImageNet), then the
## tables and figures in results/. Cells run in fixed directories under runs/reproduce/, so finished cells are
## kept and an interrupted grid resumes; a cell whose inputs are missing here (checkpoint, data, a GPU for the
## 50k-sample image cells) is skipped with the reason in its table. Extra options: make reproduce ARGS="--only toy"
## or ARGS="--launcher joblib" (parallel local jobs; needs the launchers extra).
reproduce: $(STAMP)
	$(BIN)/dot-reproduce $(ARGS)

## table: rewrite results/ from the finished cells of the grid, running nothing
table: $(STAMP)
	$(BIN)/dot-reproduce --tables-only $(ARGS)

## toy-gans: retrain the shipped 2-D pairs (model dotcli_wgangp); about 10 minutes each on 1 CPU core
toy-gans: $(STAMP)
	for d in gaussians25 swissroll; do \
	  $(PY) scripts/train_toy_gan.py --dataset $$d --out dotcli/assets/toy/dotcli_wgangp_$$d.pt; done

clean:
	rm -rf $(VENV) build dist *.egg-info
