# Two entry points; each sets up .venv on first use (Python 3.11 + pip, nothing else):
#   make run    -> convbench run   (quick suite, CPU, every installed backend; ARGS="..." for more)
#   make test   -> python -m pytest (ARGS="..." for pytest options)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: run test setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch is pinned: pip takes this CPU build from local disk; an unpinned torch pulls a CUDA build.
	$(VENV)/bin/python -m pip install -q torch==2.13.0
	$(VENV)/bin/python -m pip install -q -e '.[all,test]' torch==2.13.0
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/convbench run $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info
