# hive-health: `make run` checks a site (HIVE_ROOT=...; without it, this machine: --local),
# `make test` runs the suite's own tests (unit, then end to end against the hive lab).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
HIVE_ROOT ?=
ARGS    ?=

.PHONY: venv run test unit demo clean

$(BIN)/pytest: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# the suite itself, installed editable: the `hive-health` command and the engine's pytest entry
# point, with this checkout's code (an older venv's hive-health.pth gives way to it)
$(VENV)/.installed: $(BIN)/pytest pyproject.toml
	rm -f $(VENV)/hive-health.pth "$$($(BIN)/python -c 'import site; print(site.getsitepackages()[0])')/hive-health.pth"
	$(BIN)/pip install -q --disable-pip-version-check -e .
	touch $@

venv: $(BIN)/pytest $(VENV)/.installed

# HIVE_ROOT goes to the suite through the environment; without it, this machine is checked, as
# asked for explicitly (--local): the checkout is no site. pytest names the page it wrote (the
# site's reports/ when the site has its own pytest.ini, else this checkout's).
run: venv
	if [ -n "$(HIVE_ROOT)" ]; then set --; else set -- --local; fi; \
	  HIVE_ROOT="$(HIVE_ROOT)" $(BIN)/pytest "$$@" $(ARGS)

unit: venv
	$(BIN)/pytest -c tests/pytest.ini tests/unit tests/lab_infra -q

test: venv
	./tests/run-all.sh

# the hive lab on this machine (root), then the suite against it; the lab stays up for more
demo: venv
	bash lab/install-deps.sh
	site=$$($(BIN)/python -m lab up | tail -n 1) && \
	  HIVE_ROOT="$$site" $(BIN)/pytest $(ARGS); \
	  echo "lab site: $$site (python3 -m lab inject FAULT / heal / down)"; \
	  echo "report: $(CURDIR)/reports/latest.html"

clean:
	rm -rf $(VENV) reports/*.html reports/*.json

# benchmarks: the suite against a shell loop and Ansible ad-hoc on labs of 4, 8 and 16
# servers, bare and +20 ms RTT (takes the lab lock per size), then the history page at a month
# of five-minute runs; both write their part of bench/results/latest.md
.PHONY: bench bench-history
bench: venv
	bash lab/install-deps.sh
	$(PY) bench/run.py
	$(BIN)/python bench/history_bench.py --screenshot docs/history.png

# the history page alone (no lab, about a minute): 8,640 runs of a 4-server site, against the
# page made by re-reading every dated JSON report; screenshot in docs/history.png
bench-history: venv
	$(BIN)/python bench/history_bench.py --screenshot docs/history.png
