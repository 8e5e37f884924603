# Kurrant Lens — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: install run demo-db lint test bench clean-data

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Creates and fills the demo DE database (embedded SQLite by default) only when it is missing or empty.
demo-db: install
	$(PY) -m kurrant_core ensure-demo --scale demo

run: demo-db
	$(PY) -m streamlit run app.py --server.port $(PORT)

# Lint and import order (ruff, configured in pyproject.toml), then the tests.
lint: install
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

# bench_public_data.py reads MovieLens-100K from the recbole wheel (data only: never imported,
# not a runtime dependency); it is installed here, into the venv, when missing.
bench: install
	$(PY) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('recbole') is None)" \
		|| $(PY) -m pip install -q --no-deps recbole==1.2.1
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean-data:
	rm -rf data/
