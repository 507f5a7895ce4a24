# Two commands on a fresh machine: `make run` opens the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench soak screenshots format clean

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

clean:
	rm -rf $(VENV) build *.egg-info
