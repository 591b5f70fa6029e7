# gristmill: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CC_BASE ?= https://data.commoncrawl.org
DEMO_CRAWL ?=
DEMO_OUT ?= demo-output
# Filter word lists come from their public sources, or from a local mirror of them when one
# lies beside the checkout (as ../shared/data/filters does on the project's machines).
ASSETS_BASE ?= $(wildcard ../shared/data/filters)
# High-quality reference text for the demo's stand-in quality classifier (dclm-baseline).
DEMO_REFERENCE ?= $(wildcard ../shared/data/reference/gutenberg.jsonl.gz ../shared/data/web/more/wikipedia-00000.jsonl.gz)
# torch is pinned to the CPU wheel that these machines carry; other specs pull CUDA builds.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test bench lint clean

$(BIN)/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[ray,train,quality,dev]"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[bench]"
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/gristmill demo --base-url "$(CC_BASE)" $(if $(DEMO_CRAWL),--crawl "$(DEMO_CRAWL)") \
		$(if $(ASSETS_BASE),--assets-base-url "$(ASSETS_BASE)") --out "$(DEMO_OUT)" \
		$(if $(DEMO_REFERENCE),--reference $(DEMO_REFERENCE))

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-bench
	for b in extraction filters dedup io_read download tokenization shuffle train eval quality decontam; do \
		echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || exit 1; done

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info src/*.egg-info
