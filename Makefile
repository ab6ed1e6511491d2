# Everything a fresh machine needs is installed here, into .venv: never by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the service with the plot, sim and http extras (what demo needs: the figure, the LP bound and
# the live page), Playwright's Python package to drive Debian's Chromium (never its own browser
# download) and the HTTP client of the tests' harness that the page's demo runs on (the same
# ranges as the test extra)
$(VENV)/.installed-demo: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[plot,sim,http]' 'playwright>=1.45,<2' 'aiohttp>=3.9,<4'
	touch $@

# everything, with the test tools
$(VENV)/.installed-test: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,plot,sim]'
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/loadbalancer simulate --log out/decisions.jsonl
	@if $(BIN)/python -c 'import matplotlib' 2>/dev/null && \
	    $(BIN)/loadbalancer log --help >/dev/null 2>&1; then \
	  $(BIN)/loadbalancer log out/decisions.jsonl --plot out/demo.png && echo "plot: out/demo.png"; \
	fi
	@# the live status page (issue 16) in Debian's Chromium
	@if [ -x /usr/bin/chromium ]; then \
	  $(BIN)/python -m tests.http.demo_page out/status.png && echo "status page: out/status.png"; \
	else \
	  echo "status page: no /usr/bin/chromium, no out/status.png (apt-get install chromium)"; \
	fi
	@echo "decision log: out/decisions.jsonl"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check loadbalancer tests benchmarks
	$(BIN)/ruff format --check loadbalancer tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# two workers (this project's CI machine has two cores); a test module stays on one worker
PYTEST_WORKERS ?= 2
pytest: $(VENV)/.installed-test
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/parse.py
	$(BIN)/python benchmarks/parse_adversarial.py
	$(BIN)/python benchmarks/hdlc.py
	$(BIN)/python benchmarks/reaction.py
	$(BIN)/python -m benchmarks.http_load
	$(BIN)/python -m benchmarks.log_summary
	$(BIN)/python -m benchmarks.replay
	$(BIN)/python benchmarks/evenings.py
	$(BIN)/python benchmarks/tariff_month.py
	$(BIN)/python -m benchmarks.mqtt
	$(BIN)/python -m benchmarks.garage
	$(BIN)/loadbalancer simulate

# the parser fuzz and attack corpus of the test suite, run longer (a few minutes)
FUZZ_EXAMPLES ?= 5000
fuzz: $(VENV)/.installed-test
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/meter/test_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis out
