# Report Archive: `make run` serves the bundled sample archive, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser run build test test-fast container-test bench bench-scale clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[prod,test]'
	touch $@

# Debian's Chromium for the browser tests and a CJK font (page screenshots, test PDFs).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium fonts-wqy-zenhei; \
	fi

run: setup
	$(BIN)/python -m server

build: setup
	$(BIN)/python -m indexer build

test: setup browser
	$(BIN)/python -m pytest -q

# The tests a change usually needs, in about a minute: no browser, nothing marked slow.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not browser and not slow"

# Builds the image from the Dockerfile and runs it with podman (../shared/tools/podman-base.sh
# installs podman and makes the base image, once per machine); skips, saying why, where podman
# cannot run containers.
container-test: setup
	$(BIN)/python -m pytest -q -rs --container -m container

bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/index_bench.py gator_reports xwlb_stories
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/exactness.py
	$(BIN)/python bench/known_item.py
	$(BIN)/python bench/compound_terms.py
	$(BIN)/python bench/drop_bench.py
	$(BIN)/python bench/kill_bench.py
	$(BIN)/python bench/pdf_compare.py ../shared/corpus/pdf --report
	$(BIN)/python bench/real_reports.py
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/soak_bench.py
	$(BIN)/python bench/robustness.py

# The scale curve builds archives of 20k, 100k and 300k documents: about 35 minutes.
bench-scale: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/scale_bench.py

clean:
	rm -rf var .pytest_cache
