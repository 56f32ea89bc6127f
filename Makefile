# The two commands of the quick start: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SOURCES := mesh connectors tests bench tools

.PHONY: run test lint browser bench protos clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(INSTALLED)  ## the gateway on an embedded Kafka broker, serving specs/examples
	$(BIN)/mesh dev

lint: $(INSTALLED)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint browser  ## linters, type checks, import contracts, then every test against real brokers
	$(BIN)/pytest

browser:  ## headless Chromium for the browser tests, from Debian's packages when run as root
	@command -v chromium >/dev/null || $(call apt,chromium)

bench: $(INSTALLED)  ## the figures of bench/README.md (about ten minutes)
	@command -v wrk >/dev/null || $(call apt,wrk)
	@test -f /usr/lib/nginx/modules/ngx_nchan_module.so || $(call apt,nginx-light libnginx-mod-nchan)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.fanout --subscribers 1000 --rate 20
	$(BIN)/python -m bench.fanout --subscribers 5000 --rate 2

# Install a Debian package when root (CI, the project's machines); otherwise say what is missing.
apt = { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq $(1) >/dev/null; } \
	|| echo "$(1) is not installed and cannot be installed here: apt-get install $(1)"

GEN := connectors/entrypoints/grpc_api
protos: $(INSTALLED)  ## regenerate $(GEN) from specs/proto (tests check it is current)
	$(BIN)/python -m tools.protos

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
