# dotcli: every target creates the virtual environment it needs when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint reproduce table toy-gans clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test]"
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

## reproduce: the paper's toy grid (2 datasets x 2 models x 4 methods x 10 trials), then the tables.
## Finished cells are kept (runs/reproduce/...), so an interrupted grid resumes where it stopped.
reproduce: $(STAMP)
	$(BIN)/dot-run -m experiment=toy_table || true
	$(BIN)/dot-table runs/reproduce --out results

table: $(STAMP)
	$(BIN)/dot-table runs --out results

## toy-gans: retrain the shipped 2-D pairs (model dotcli_wgangp); about 10 minutes each on 1 CPU core
toy-gans: $(STAMP)
	for d in gaussians25 swissroll; do \
	  $(PY) scripts/train_toy_gan.py --dataset $$d --out dotcli/assets/toy/dotcli_wgangp_$$d.pt; done

clean:
	rm -rf $(VENV) build dist *.egg-info
