# dkgen: the two commands a fresh machine needs are `make demo` and `make test`;
# each sets up everything itself (virtual environment, Python packages, Debian packages).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DKGEN  := $(VENV)/bin/dkgen
PTB    ?= ../shared/data/ptb
JOBS   ?= 2

.PHONY: setup sysdeps demo test lint paper paper-quick bench clean

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[train,test]'
	touch $@

sysdeps:
	bash scripts/install-system-deps.sh

setup: $(VENV)/.installed sysdeps

demo: setup
	$(DKGEN) demo

test: setup
	$(PY) -m ruff check dkgen tests
	$(PY) -m pytest -n $(JOBS) -q

lint: setup
	$(PY) -m ruff check dkgen tests

clean:
	rm -rf $(VENV) build dist *.egg-info out

# The DKP-vs-baselines comparison on PTB (docs/training.md): about two hours on 2 idle CPU
# cores; resumable (rerun to continue).  Checkpoints go to runs/ptb-small (not in git).
paper: setup
	$(PY) scripts/paper.py --data $(PTB) --out results/ptb-small --runs runs/ptb-small

# Every step of `paper` on a few thousand PTB tokens, in minutes; results are not meaningful.
paper-quick: setup
	$(PY) scripts/paper.py --data $(PTB) --out out/paper-quick --runs out/paper-quick/runs --quick

# Instructions per timestep, DKP against dense, float32 and int8, on Cortex-M0/M4/M7/M55 under
# QEMU; prints the table and writes docs/benchmarks.md (scripts/bench.py; several minutes).
bench: setup
	$(PY) scripts/bench.py
