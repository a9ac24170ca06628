# ntklab course: build the book, run the tests, make runnable notebooks.
# `make book` and `make test` set up .venv themselves on first use.

PYTHON       ?= python3
VENV         ?= .venv
BIN          := $(VENV)/bin
CONSTRAINTS  := requirements/constraints.txt
STAMP        := $(VENV)/.ntklab-installed
CHAPTERS     := $(shell grep -l '^kernelspec:' book/*.md)
NBVAL_DIR    := .nbval
NOTEBOOK_DIR := notebooks
# --all: Sphinx re-reads (so re-executes) only changed pages, but a change in ntklab changes
# every chapter: build them all.
JB_FLAGS     ?= -W -n --keep-going --all
PYTEST_FLAGS ?=
# NO_SETUP=1 skips the environment check (e.g. in a git worktree that borrows another .venv)
SETUP        := $(if $(NO_SETUP),,$(STAMP))

.PHONY: all book test unit doctest nbval browser notebooks lab pdf texlive page lint bench clean env

all: book

env: $(STAMP)

# (Re)install when the dependency pins change; `make env` alone just sets up .venv.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "ntklab needs Python >= 3.10"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[book,test,dev]"
	@# build matplotlib's font cache now, so its one-time notice never lands in a chapter's stderr
	MPLBACKEND=Agg $(BIN)/python -c 'import matplotlib.pyplot'
	touch $(STAMP)

book: $(SETUP)
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "HTML: $(CURDIR)/_build/html/index.html"

# Build the book with only one chapter in the table of contents (fast check while writing):
#   make page PAGE=book/ch01_linearization.md
page: $(SETUP)
	@test -n "$(PAGE)" || (echo "usage: make page PAGE=book/<chapter>.md" && exit 2)
	mkdir -p _build/toc
	printf 'format: jb-book\nroot: book/intro\nparts:\n  - caption: Chapters\n    numbered: true\n    chapters:\n      - file: %s\n  - caption: Reference\n    chapters:\n      - file: book/notation\n      - file: book/results\n      - file: book/sources\n      - file: book/api\n      - file: book/references\n' "$(basename $(PAGE))" > _build/toc/$(notdir $(basename $(PAGE))).yml
	$(BIN)/jupyter-book build . $(JB_FLAGS) --toc _build/toc/$(notdir $(basename $(PAGE))).yml --path-output _build/page-$(notdir $(basename $(PAGE)))
	@echo "HTML: $(CURDIR)/_build/page-$(notdir $(basename $(PAGE)))/_build/html/index.html"

notebooks: $(SETUP)
	mkdir -p $(NOTEBOOK_DIR)
	for f in $(CHAPTERS); do $(BIN)/jupytext --quiet --to ipynb -o $(NOTEBOOK_DIR)/$$(basename $$f .md).ipynb $$f || exit 1; done
	@echo "Notebooks in $(CURDIR)/$(NOTEBOOK_DIR)/: open them with Jupyter using the .venv kernel"

# The chapters as notebooks in JupyterLab (installed into .venv on first use; the notebooks use
# the .venv's own Python kernel). `make lab LAB_FLAGS=--no-browser` on a remote machine.
lab: notebooks
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) jupyterlab
	$(BIN)/jupyter-lab $(LAB_FLAGS) $(NOTEBOOK_DIR)

# The whole book as one PDF (Sphinx's LaTeX builder, then latexmk with XeLaTeX). Needs TeX Live:
# `make texlive` installs Debian's packages with apt-get when latexmk, xelatex or xindy is missing (the
# only time this target uses the network). Not part of `make test`: it runs every chapter again.
pdf: $(SETUP)
	command -v latexmk >/dev/null && command -v xelatex >/dev/null && command -v xindy >/dev/null || $(MAKE) texlive
	$(BIN)/jupyter-book build . --builder pdflatex $(PDF_FLAGS)
	@echo "PDF: $(CURDIR)/_build/latex/ntklab-course.pdf"

TEXLIVE_PACKAGES := latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
                    texlive-xetex xindy fonts-freefont-otf tex-gyre
texlive:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends $(TEXLIVE_PACKAGES)

unit: $(SETUP)
	$(BIN)/python -m pytest tests -m "not browser" $(PYTEST_FLAGS)

# the Examples sections of the docstrings
doctest: $(SETUP)
	$(BIN)/python -m pytest --doctest-modules ntklab -p no:cacheprovider $(PYTEST_FLAGS)

nbval: $(SETUP)
	rm -rf $(NBVAL_DIR) && mkdir -p $(NBVAL_DIR)
	for f in $(CHAPTERS); do $(BIN)/jupytext --quiet --to ipynb -o $(NBVAL_DIR)/$$(basename $$f .md).ipynb $$f || exit 1; done
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider $(NBVAL_DIR) $(PYTEST_FLAGS)

browser: $(SETUP)
	$(BIN)/python -m pytest tests -m browser $(PYTEST_FLAGS)

# Everything CI checks: ruff, unit tests (with the torch.compile ones, about a minute more with a
# cold TorchInductor cache), doctests, every chapter as a notebook, the -W book build, the
# browser test.
test: $(SETUP)
	$(MAKE) lint
	NTKLAB_COMPILE_TESTS=1 $(MAKE) unit
	$(MAKE) doctest
	$(MAKE) nbval
	$(MAKE) book
	$(MAKE) browser

lint: $(SETUP)
	$(BIN)/ruff check ntklab tests benchmarks tools
	$(BIN)/ruff format --check ntklab tests benchmarks tools
	$(BIN)/python tools/format_cells.py --check book/*.md

bench: $(SETUP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf _build $(NBVAL_DIR) $(NOTEBOOK_DIR)
