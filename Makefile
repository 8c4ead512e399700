# The two commands of the README: `make demo` and `make test`. Both start from a
# machine with only python3 and do every set-up step themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Interpreters tox looks for; pyenv's installs are put on PATH when present.
export PATH := $(subst $() $(),:,$(wildcard $(HOME)/.pyenv/versions/3.1[0-3]*/bin)):$(PATH)
PATTERN ?= functional
TOX_ARGS ?=

.PHONY: demo test serve bench loadtest lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]' tox
	touch $@

# One settings module per pattern (example_project/example_project/settings/).
PATTERNS := functional replica sharded tenants overlay

demo: $(VENV)/.installed
	cd example_project && for pattern in $(PATTERNS); do \
		../$(BIN)/python manage.py demo --settings=example_project.settings.$$pattern || exit 1; \
	done

serve: $(VENV)/.installed
	cd example_project && ../$(BIN)/python manage.py seed --if-empty --settings=example_project.settings.$(PATTERN) && \
		EXAMPLE_TOOLBAR=1 ../$(BIN)/python manage.py runserver --settings=example_project.settings.$(PATTERN)

test: $(VENV)/.installed
	-$(BIN)/python scripts/pg-cluster install  # once, before parallel envs (docs/postgresql.rst)
	-$(BIN)/python scripts/install-browser  # Chromium for tests/example/test_browser.py
	-scripts/install-docs-deps  # Graphviz for the docs' diagrams
	-scripts/install-redis  # the broker of tests/contrib/test_celery.py (docs/consistency.rst)
	# Four at a time on 2 cores: the PostgreSQL suites mostly wait (a standby 300 ms behind).
	$(BIN)/tox run-parallel --parallel 4 --parallel-no-spinner --parallel-live $(TOX_ARGS) \
		--skip-missing-interpreters $(if $(CI),false,true)

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks

# The load-and-fault test against the suite's PostgreSQL cluster (docs/benchmarks.rst);
# writes docs/_static/loadtest.txt. Under 3 minutes.
loadtest: $(VENV)/.installed
	-$(BIN)/python scripts/pg-cluster install
	$(BIN)/python -m pip install --quiet -r benchmarks/loadtest/requirements.txt
	$(BIN)/python -m benchmarks.loadtest

lint: $(VENV)/.installed
	$(BIN)/tox run -e lint

docs: $(VENV)/.installed
	scripts/install-docs-deps
	$(BIN)/tox run -e docs

clean:
	rm -rf $(VENV) .tox build dist docs/_build example_project/var .coverage .coverage.*
