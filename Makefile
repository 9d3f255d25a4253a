# intrapump: `make demo` and `make test` do all the set-up (a .venv with the project installed).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test safety fuzz bench lint-imports clean trace mutate

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "intrapump needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

test: $(STAMP) lint-imports
	$(PY) -m pytest -q -n 2 -p no:cacheprovider

demo: $(STAMP)
	$(PY) -m firmware_sim.scenario --days 7
	$(PY) -m host_tools.demo

safety: $(STAMP)
	INTRAPUMP_SAFETY=deep $(PY) -m pytest -q -n auto -p no:cacheprovider tests/safety

# every requirement of REQUIREMENTS.md -> its tests: reports/trace.json, trace.html, junit.xml;
# fails when a requirement has no passing test
trace: $(STAMP)
	mkdir -p reports
	$(PY) -m pytest -q -n 2 -p no:cacheprovider --trace-dir reports \
		--junitxml reports/junit.xml -o junit_family=xunit1

# mutation testing (mutmut, the `mutation` extra) of the safety-critical modules: schedule and
# limit windows, alarms and alarm thresholds, frame, session layer. Each module runs in its own
# working directory mutants/<module>/ against its own quick tests (tests/mutation/run.py), one
# mutant at a time; slow, never part of make test. MUTATE_MODULES=protocol.frame for one module.
MUTATE_MODULES ?= firmware_sim.schedule firmware_sim.pump.limits firmware_sim.pump.windows \
		firmware_sim.pump.rate_changes firmware_sim.alarms firmware_sim.pump.thresholds protocol.frame protocol.session \
		protocol.pump_layer protocol.host_layer protocol.backoff
mutate: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,mutation]'
	nice -n 10 $(PY) tests/mutation/run.py $(MUTATE_MODULES)
	$(PY) tests/mutation/score.py $(MUTATE_MODULES)

fuzz: $(STAMP)
	$(PY) benchmarks/fuzz.py

bench: $(STAMP)
	$(PY) benchmarks/timewarp.py
	$(PY) benchmarks/codec.py
	$(PY) benchmarks/links.py
	$(PY) benchmarks/bench_line.py
	$(PY) benchmarks/roundtrip.py
	$(PY) benchmarks/handshake_flood.py
	$(PY) benchmarks/fuzz.py --frames 100000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis demo-out reports mutants
