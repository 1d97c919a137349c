# The commands README shows. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
# Extra pytest arguments, e.g. `make test ARGS="tests/compat -x"`.
ARGS  ?=
# pytest's exit code 5 means "no tests collected": say so instead of failing silently.
PYTEST = $(PY) -m pytest $(1) || { rc=$$?; [[ $$rc -eq 5 ]] && echo "make: pytest collected no tests" >&2; exit $$rc; }

.PHONY: help install lock test test-slow lint demo clean distclean

help:
	@echo "make install    build .venv/ with the pinned stack (first run ~15-20 min: mmcv compiles)"
	@echo "make lock       refresh requirements.lock (exact versions make install uses) from .venv/"
	@echo "make test       install if needed, then run the test suite (what CI runs)"
	@echo "make test-slow  the test suite including tests marked slow"
	@echo "make lint       ruff (lint + format check) on the repository, mypy on the package (CONTRIBUTING.md)"
	@echo "make demo       the end-to-end demo (scripts/demo.sh)"
	@echo "make clean      remove build outputs and caches (keeps .venv/)"
	@echo "make distclean  clean, and remove .venv/ too"

install:
	@bash scripts/install.sh

lock:
	@bash scripts/lock.sh

test: install
	@$(call PYTEST,$(ARGS))

test-slow: install
	@$(call PYTEST,-m "slow or not slow" $(ARGS))

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: install
	@bash scripts/demo.sh

clean:
	rm -rf build dist .eggs *.egg-info work_dirs .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
