# Two commands do all set-up in a project-local virtualenv (.venv), from a fresh clone:
#   make run    generate the embedded default dataset and run the daily job on DirectRunner
#   make test   run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out
LISTENERS ?= 2000
DAYS   ?= 30
SEED   ?= 7
DATE   ?= 2026-11-28

.PHONY: run test install clean

install: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[spark,test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/home-recs generate --listeners $(LISTENERS) --days $(DAYS) --seed $(SEED) --end $(DATE) --output $(OUT)/synthetic
	$(BIN)/home-recs daily --date $(DATE) --input $(OUT)/synthetic --output $(OUT)/home --runner DirectRunner

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(OUT) .pytest_cache
