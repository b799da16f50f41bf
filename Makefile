# Two entry points: `make demo` and `make test`. Both create .venv when it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
MIRROR  ?= ../shared/fineweb-mini/datasets

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# torch first, pinned: a CPU machine then never pulls the CUDA wheels
	$(BIN)/pip install -q torch==2.13.0
	# the plots and track extras too: `pgolf plot`, curves.png, and the tracker tests need them
	$(BIN)/pip install -q -e '.[test,plots,track]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pgolf run --mirror $(MIRROR)

test: $(STAMP)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) runs build *.egg-info
