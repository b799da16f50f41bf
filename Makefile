# Two entry points: `make demo` and `make test`. Both create .venv when it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TESTS   := $(VENV)/.installed-tests
MIRROR  ?= ../shared/fineweb-mini/datasets

.PHONY: demo test install clean

# pgolf with the plots extra: what `make demo` needs (`pgolf run` draws curves.png)
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# torch first, pinned: a CPU machine then never pulls the CUDA wheels. --no-compile: pip would
	# byte-compile every file of every package (half the set-up time); Python caches the bytecode
	# of what the demo imports when it first imports it.
	$(BIN)/pip install -q --no-compile torch==2.13.0
	$(BIN)/pip install -q --no-compile -e '.[plots]'
	touch $(STAMP)

# the test and track extras on top: pytest, scipy, and the tracker tests' tensorboard and wandb
$(TESTS): $(STAMP)
	$(BIN)/pip install -q -e '.[test,plots,track]'
	# the bytecode of everything, so that the tests' many subprocesses start fast even where
	# PYTHONDONTWRITEBYTECODE is set; the few files written for newer Pythons do not compile
	$(BIN)/python -m compileall -qq -j0 $(VENV)/lib || true
	touch $(TESTS)

install: $(TESTS)

demo: $(STAMP)
	$(BIN)/pgolf run --mirror $(MIRROR)

test: $(TESTS)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) runs build *.egg-info
