# archc: `make run` sets everything up and runs the main job; `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch; override on a machine with a GPU, e.g. make TORCH='torch>=2.4'.
TORCH  ?= torch==2.13.0
SOURCES := $(shell find src dsl codegen grammar -path '*/node_modules' -prune -o -type f \( -name '*.py' -o -name '*.lark' -o -name '*.j2' -o -name py.typed -o -path '*/serve/static/*' \) -print 2>/dev/null | sort)

.PHONY: run test lint typecheck pytest install graphviz chromium frontend bench golden generated clean

run: install
	$(BIN)/archc build specs/se_resnet50.arch

test: install lint typecheck pytest

install: $(VENV)/.installed graphviz

# The editable install is a link tree (editable_mode=strict): re-run it whenever files are added.
$(VENV)/.installed: pyproject.toml $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[dev,train,serve]' --config-settings editable_mode=strict
	touch $@

# Graphviz's `dot` renders diagrams; install it from Debian when it is missing.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing graphviz (dot)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq graphviz >/dev/null) \
	    || echo "warning: could not install graphviz; render will write .dot files only"; }

# Debian's chromium runs the browser tests of `archc serve` (tests/test_serve_browser.py, driven by
# Playwright from PyPI, never `playwright install`); without it those tests skip and say why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (for the browser tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium; the browser tests will be skipped"; }

# Rebuild the page of `archc serve` (CodeMirror from npm, bundled by esbuild) into
# src/archc/serve/static/, which is committed: installing archc needs no npm, and neither does CI.
frontend:
	cd src/archc/serve/frontend && npm ci --no-audit --no-fund && npm run build

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install chromium
	$(BIN)/python -m pytest

golden: install
	$(BIN)/python -m pytest --update-golden tests/test_diagnostics.py tests/test_codegen.py tests/test_render.py tests/test_reports.py tests/test_diff.py

# Rebuild generated/ from every spec (the test suite fails when it is stale).
generated: install
	for spec in specs/*.arch; do $(BIN)/archc build $$spec -o generated || exit 1; done

bench: install
	$(BIN)/python benchmarks/check_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The fuzzing campaign of docs/reliability.md: 50,000 seeded cases (FUZZ_ARGS='--cases 2000').
.PHONY: fuzz validate-long
fuzz: install
	nice $(BIN)/python benchmarks/fuzz_campaign.py $(FUZZ_ARGS)

# Translation validation of 10,000 mutated specs against their analysis (VALIDATE_ARGS=...).
validate-long: install
	nice $(BIN)/python benchmarks/translation_validation.py $(VALIDATE_ARGS)
