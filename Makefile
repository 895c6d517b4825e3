# Quick start: `make demo` (set up, simulate, reconstruct) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch; on a CUDA machine set TORCH_SPEC="torch" (or a pytorch.org index).
TORCH_SPEC ?= torch==2.13.0
DEMO_DIR ?= demo_output

.PHONY: install demo test test-all bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	@# (the filter hides setuptools' informational "Editable installation" banner)
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: install
	$(BIN)/cryolatent demo -o $(DEMO_DIR) --force

# the fast tier; test-all adds the slow, notebook, browser and napari tiers
# (the last two skip unless tests/browser/install_browser_deps.sh has run)
test: install
	$(BIN)/python -m pytest

test-all: install
	$(BIN)/python -m pytest -m ""

bench: install
	bash bench/setup_cryodrgn.sh
	$(BIN)/python bench/run_bench.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
