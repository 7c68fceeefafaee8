# Two commands on a fresh machine:
#   make book   set everything up, then build the executed site into _build/html
#   make test   set everything up, then run the whole test suite
# Everything else here is a step of those two, or an instructor's tool.

PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := dataset-fashion-mnist chromium npm bubblewrap
# jupyter_book has no __main__ module: call its command-line entry point with $(PYTHON)
JUPYTER_BOOK := $(PYTHON) -c 'from jupyter_book.cli.main import main; main()'

.PHONY: book test setup python-deps system-deps bench lint clean checkpoints
.PHONY: site-assets linkcheck pdf
.PHONY: release release-check autograde merge-grades report student-branch

# The site folds solutions and model answers; `make book SOLUTIONS=hide` removes them (see README).
SOLUTIONS ?= fold
export COURSE_SOLUTIONS := $(SOLUTIONS)

book: setup
	$(JUPYTER_BOOK) build . -W --keep-going
	@echo "The site is in _build/html/index.html"

# Tests in TEST_JOBS processes (pytest-xdist); tests sharing a built site or released course share a
# worker (xdist_group marks, --dist loadgroup). TEST_JOBS=0 runs them in this process.
TEST_JOBS ?= 2
test: setup
	$(PYTHON) -m pytest $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadgroup)

bench: setup
	$(PYTHON) bench/run.py

# The long-trained models that chapters 4-6 load (course_utils/pretrained/, package data), remade
# from seed 0: a few minutes with a GPU, much longer on a CPU (README, "Checkpoints").
checkpoints: setup
	$(PYTHON) -m course_utils.checkpoints

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

setup: python-deps system-deps site-assets

python-deps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt

# Fashion-MNIST from Debian's package (offline), Chromium for the browser tests, npm for site-assets,
# bubblewrap (bwrap) for the sandbox that `make autograde` runs each submission in.
# Without apt-get, the chapters download the data through torchvision instead (see README).
system-deps:
	@missing=""; \
	[ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	if [ -z "$$missing" ]; then echo "System packages: present ($(APT_PACKAGES))"; \
	elif command -v apt-get >/dev/null; then \
		echo "Installing with apt-get:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	else echo "No apt-get here: install$$missing yourself, or see README (the data can also be downloaded)."; fi

# MathJax and the ipywidgets HTML manager, which the site serves itself: the versions pinned in
# site/package-lock.json, installed into site/node_modules (again only when the lock file changes).
# Without npm the book still builds, on CDN copies, and the build says so in one line.
site-assets: system-deps
	@if [ site/node_modules/.package-lock.json -nt site/package-lock.json ]; then :; \
	elif command -v npm >/dev/null; then \
		npm ci --prefix site --ignore-scripts --no-audit --no-fund --loglevel=error; fi

# External links, on demand: it needs the internet, so it is not part of `make test` or CI.
# Report: _build/linkcheck/_build/linkcheck/output.txt
linkcheck: setup
	COURSE_FAST_MODE=1 $(JUPYTER_BOOK) build . --builder linkcheck --path-output _build/linkcheck

clean:
	rm -rf _build

# Instructor's tools (README, "Teaching with the course: release, grading, publishing"); nbgrader is configured by nbgrader_config.py.
#   make release [REF=v1.0] [FORCE=1]  student notebooks in release/chN/, pinned to REF (HEAD), checked
#   make release-check                 fail if a solution, hidden test or model answer survived
#   make autograde CHAPTER=1           grade submitted/<student>/ch1/ into grades/ch1.csv and feedback/
#        [JOBS=2] [SHARD=1/4 | STUDENTS=a,b] [TIMEOUT=60] [SANDBOX=0] [DB_URL=postgresql://...]
#   make merge-grades CHAPTER=1        join grades/ch1.shard-*.csv (and ch1.students.csv) into ch1.csv
#   make report CHAPTER=1 [DB_URL=...] the class report of grades/ch1.csv: grades/ch1.report.html
#   make student-branch                the student branch's files in _build/student (CI publishes them)
# release and autograde install nothing: run `make setup` once (they would repoint course_utils).
release:
	$(PYTHON) -m instructor release $(if $(REF),--ref $(REF)) $(if $(FORCE),--force)

release-check:
	$(PYTHON) -m instructor check

autograde:
	@[ -n "$(CHAPTER)" ] || { echo "Say which chapter: make autograde CHAPTER=1"; exit 2; }
	$(PYTHON) -m instructor autograde $(CHAPTER) $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
		$(if $(JOBS),--jobs $(JOBS)) $(if $(SHARD),--shard $(SHARD)) \
		$(if $(STUDENTS),--students $(STUDENTS)) $(if $(DB_URL),--db-url '$(DB_URL)') \
		$(if $(filter 0 no false,$(SANDBOX)),--no-sandbox)

merge-grades:
	@[ -n "$(CHAPTER)" ] || { echo "Say which chapter: make merge-grades CHAPTER=1"; exit 2; }
ifdef SHARDS
	$(PYTHON) -m instructor merge-shards $(CHAPTER) $(SHARDS)
else
	@ch=$$($(PYTHON) -c 'from instructor.course import find_chapter; print(find_chapter("$(CHAPTER)").assignment)'); \
	files=$$(ls grades/$$ch.shard-*-of-*.csv grades/$$ch.students.csv 2>/dev/null); \
	[ -n "$$files" ] || { echo "No grades/$$ch.shard-*-of-*.csv to merge"; exit 2; }; \
	$(PYTHON) -m instructor merge $$files -o grades/$$ch.csv
endif

report:
	@[ -n "$(CHAPTER)" ] || { echo "Say which chapter: make report CHAPTER=1"; exit 2; }
	$(PYTHON) -m instructor report $(CHAPTER) $(if $(DB_URL),--db-url '$(DB_URL)')

student-branch: release
	$(PYTHON) -m instructor student-tree _build/student

# The whole book as one PDF, _build/pdf/book.pdf (README, "The site"): Debian's Chromium prints each
# page of the built site with its print styles, pypdf joins them, with a bookmark per page.
pdf: book
	$(PYTHON) site/pdf.py _build/html _build/pdf/book.pdf
