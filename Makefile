# Two commands on a fresh machine:
#   make book   set everything up, then build the executed site into _build/html
#   make test   set everything up, then run the whole test suite
# Everything else here is a step of those two, or an instructor's tool.

PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := dataset-fashion-mnist chromium

.PHONY: book test setup python-deps system-deps bench lint clean

book: setup
	$(PYTHON) -m jupyter_book build . -W --keep-going
	@echo "The site is in _build/html/index.html"

test: setup
	$(PYTHON) -m pytest

bench: setup
	$(PYTHON) bench/run.py

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

setup: python-deps system-deps

python-deps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt

# Fashion-MNIST from Debian's package (offline), and Chromium for the browser tests.
# Without apt-get, the chapters download the data through torchvision instead (see README).
system-deps:
	@missing=""; \
	[ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then echo "System packages: present ($(APT_PACKAGES))"; \
	elif command -v apt-get >/dev/null; then \
		echo "Installing with apt-get:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	else echo "No apt-get here: install$$missing yourself, or see README (the data can also be downloaded)."; fi

clean:
	rm -rf _build
