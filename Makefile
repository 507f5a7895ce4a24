# Two commands on a fresh machine: `make run` opens the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench soak screenshots format clean package package-test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/stylist --demo-if-empty

lint: $(STAMP)
	$(BIN)/ruff check stylist tests models packaging setup.py
	$(BIN)/ruff format --check stylist tests models packaging setup.py

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks

# Minutes of imports, verdicts, training, suggestions and exports from several processes at once
# under random SIGKILLs; every acknowledged photo, verdict and favourite must survive (not in `test`).
SOAK_SECONDS ?= 180
soak: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/python -m tests.soak --seconds $(SOAK_SECONDS)

screenshots: $(STAMP)
	$(BIN)/python packaging/screenshots.py

format: $(STAMP)
	$(BIN)/ruff format stylist tests models packaging setup.py
	$(BIN)/ruff check --fix stylist tests models packaging setup.py

# The installable bundle (packaging/README.md): PyInstaller in a venv of its own holding the
# everyday run-time dependencies only (no torch, CPU ONNX Runtime), so nothing the app does not
# need at run time lands in dist/Stylist/. Slow (minutes); not part of `make test`.
PACKAGE_VENV := .venv-package
PACKAGE_STAMP := $(PACKAGE_VENV)/.installed

$(PACKAGE_STAMP): packaging/requirements-bundle.txt
	test -x $(PACKAGE_VENV)/bin/python || $(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PACKAGE_VENV)/bin/python -m pip install --quiet -r packaging/requirements-bundle.txt
	touch $(PACKAGE_STAMP)

package: $(PACKAGE_STAMP)
	$(PACKAGE_VENV)/bin/python packaging/build.py

package-test:
	bash packaging/smoke_test.sh dist/Stylist

clean:
	rm -rf $(VENV) $(PACKAGE_VENV) build dist *.egg-info
