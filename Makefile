# hive-health: `make run` checks a site (HIVE_ROOT=... or the current directory or this machine),
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

# pytest.ini loads the engine with `-p hivehealth.plugin` (so that its options, like
# --hive-root DIR, are known before pytest looks for test paths): make it importable
$(VENV)/hive-health.pth: $(BIN)/pytest
	$(BIN)/python -c 'import site, sys; open(site.getsitepackages()[0] + "/hive-health.pth", "w").write(sys.argv[1] + "\n")' "$(CURDIR)"
	touch $@

venv: $(BIN)/pytest $(VENV)/hive-health.pth

# HIVE_ROOT goes to the suite through the environment (see bin/hive-health for why not --hive-root)
run: venv
	HIVE_ROOT="$(HIVE_ROOT)" $(BIN)/pytest $(ARGS); \
	  status=$$?; echo "reports: $(CURDIR)/reports/latest.html  $(CURDIR)/reports/latest.json"; exit $$status

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
# servers, bare and +20 ms RTT; takes the lab lock per size; bench/results/latest.md
.PHONY: bench
bench: venv
	bash lab/install-deps.sh
	$(PY) bench/run.py
