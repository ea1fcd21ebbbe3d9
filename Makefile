# Two commands on a fresh machine with Python 3.11:  make demo  and  make test.
# Both create .venv themselves; the stamp files make later runs skip the install.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: demo test test-gpu lint clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel

$(VENV)/.demo-installed: $(VENV)/bin/activate setup.py
	$(PY) -m pip install -e '.[numba,train]'
	touch $@

$(VENV)/.test-installed: $(VENV)/bin/activate setup.py
	$(PY) -m pip install -e '.[test]'
	touch $@

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package when apt is usable;
# without it the demo falls back to scikit-learn's 8x8 digits and says so.
fashion-mnist:
	@if [ ! -d $(FMNIST) ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's dataset-fashion-mnist (apt)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "apt could not install dataset-fashion-mnist; the demo will fall back to digits"; \
	fi

demo: $(VENV)/.demo-installed fashion-mnist
	$(PY) -m minicnn demo

test: $(VENV)/.test-installed
	$(PY) -m pytest -q -n 2 tests

test-gpu: $(VENV)/.test-installed
	$(PY) -m pip install 'cupy-cuda12x>=13'
	$(PY) -m pytest -q tests/gpu

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check minicnn kernels zoo benchmarks tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
