# The README's commands. Everything installs into .venv from the locked requirements.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The whole suite on two workers (pytest-xdist); tests/conftest.py groups the tests that share a
# session fixture onto one worker and queues the heaviest groups first.
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder

.PHONY: setup browser run serve notify docs test check lint types format bench sample dictionary lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.9
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with the exact locked versions

run: setup  ## the main job on the bundled sample
	$(BIN)/overdue run

serve: setup  ## the counselor service on 127.0.0.1:8000, from the latest published snapshot (after `make run`)
	$(BIN)/overdue serve --host 127.0.0.1 --port 8000

notify: setup  ## once: a failed or refusing nightly run posts to WEBHOOK (the server at PREFECT_API_URL)
	test -n "$(WEBHOOK)" || (echo "usage: make notify WEBHOOK=https://..." && exit 2)
	$(BIN)/python -m pipelines.notify --webhook "$(WEBHOOK)"

docs: setup  ## the docs site into site/, offline; --strict: a broken link or a page missing from the nav fails
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

browser:  ## Debian's chromium and Chinese fonts for the browser tests (never a downloaded browser)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk)

test: setup browser  ## the whole test suite (no format, lint or type checks: `make check` runs them first)
	$(PYTEST)

lint: setup  ## format, lint and type checks, fast (what pre-commit runs)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

types: setup  ## the type checker alone (mypy with the pydantic plugin; files in pyproject.toml)
	$(BIN)/mypy

check: lint docs browser  ## what CI and a reviewer run: format, lint, types, the strict docs build, then the whole test suite
	$(PYTEST)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup  ## speed and memory against in-run baselines (the full-size runs are in the README)
	$(BIN)/python benchmarks/simulate.py --rows 1000000
	$(BIN)/python benchmarks/ingest.py --rows 1000000
	$(BIN)/python benchmarks/train.py --rows 100000
	$(BIN)/python benchmarks/validity.py --rows 50000 --reps 3
	$(BIN)/python benchmarks/report.py --rows 100000
	$(BIN)/python benchmarks/pipeline.py --rows 100000
	$(BIN)/python benchmarks/serve.py

sample: setup  ## regenerate the committed sample (deterministic)
	$(BIN)/overdue simulate --rows 20000 --out data/sample/cases.parquet

dictionary: setup  ## regenerate docs/data-dictionary.md from the contract
	$(BIN)/overdue dictionary --out docs/data-dictionary.md

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 --python-platform x86_64-manylinux_2_28

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
