# Two commands on a fresh machine with Python 3.11:  make demo  and  make test.
# Both create .venv themselves; the stamp files make later runs skip the install.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: demo test test-gpu lint bench clean fashion-mnist docs

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
		echo "Installing Debian's dataset-fashion-mnist and graphviz (apt)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist graphviz) \
		|| echo "apt could not install dataset-fashion-mnist; the demo will fall back to digits"; \
	fi

demo: $(VENV)/.demo-installed fashion-mnist
	$(PY) -m minicnn demo

# The tutorial (docs/tutorial): run every chapter's code in docs/tutorial, one process
# per chapter, which regenerates the committed figures in docs/tutorial/images.
docs: $(VENV)/.test-installed fashion-mnist
	$(PY) -m minicnn.tools.doc_examples docs/tutorial/[0-9][0-9]_*.md --cwd docs/tutorial

test: $(VENV)/.test-installed
	$(PY) -m pytest -q -n 2 tests

# The real-GPU parity suite (tests/gpu); picks the CuPy wheel for the driver's CUDA.
test-gpu: $(VENV)/.test-installed
	@v=$$(nvidia-smi | sed -n 's/.*CUDA Version: \([0-9]*\).*/\1/p' | head -1); \
	if [ "$${v:-12}" -ge 13 ]; then p=cupy-cuda13x; else p=cupy-cuda12x; fi; \
	$(PY) -m pip install "$$p[ctk]>=13"
	MINICNN_GPU_TESTS=1 $(PY) -m pytest -q tests/gpu

# The full benchmark harness (not part of the suite): tables, JSON and charts.
bench: $(VENV)/.test-installed
	$(PY) -m minicnn.bench --json bench-out/results.json --out bench-out

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check minicnn kernels zoo benchmarks tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
