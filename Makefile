# Kazoe — two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: help venv models broker-ready run test check bench clean

help:
	@echo "make run    - set up, build models, start a local broker, replay the demo scene, watch counts"
	@echo "make test   - set up, then run the whole test suite"
	@echo "make check  - format check, lint, strict types"
	@echo "make bench  - print throughput/latency/recall figures for a generated scene, and compare the detectors"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kazoe needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[collector,sim,dev,models]'
	@touch $@

venv: $(STAMP)

models: venv
	$(BIN)/python -m models.build

broker-ready:
	@bash broker_config/ensure-mosquitto.sh

run: models broker-ready
	$(BIN)/python -m simulator.demo

test: models broker-ready
	$(BIN)/python -m pytest

check: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: models
	$(BIN)/python -m simulator.bench
	$(BIN)/python -m simulator.bench --part scene --no-peer --width 1920 --height 1080
	@if [ -f ../shared/data/fairface/ground_truth.json ]; then \
		$(BIN)/python -m simulator.cli accuracy; \
	else echo "kazoe-sim accuracy: skipped (no FairFace subset at ../shared/data/fairface)"; fi

clean:
	rm -rf $(VENV) models/build models/cache build run artifacts
