# The two commands of the quick start: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SOURCES := mesh connectors tests bench tools

.PHONY: run test lint browser mosquitto services bench protos clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(INSTALLED) mosquitto  ## the gateway on embedded Kafka and MQTT brokers, serving specs/examples
	$(BIN)/mesh dev

lint: $(INSTALLED)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint browser mosquitto services  ## linters, type checks, import contracts, then every test against real brokers
	$(BIN)/pytest

browser:  ## headless Chromium for the browser tests, from Debian's packages when run as root
	@command -v chromium >/dev/null || $(call apt,chromium)

# Redis (tests start their own redis-server) and PostgreSQL (the shared catalog's tests create
# their own databases on 127.0.0.1:5432), started when installed but not running.
services:
	@command -v redis-server >/dev/null || $(call apt,redis-server)
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; fi

# Mosquitto and its clients (tests start their own brokers; mosquitto_pub/_sub check them), and
# the machine's own broker on 127.0.0.1:1883 started when it is installed but not running.
mosquitto:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || $(call apt,mosquitto)
	@command -v mosquitto_sub >/dev/null || $(call apt,mosquitto-clients)
	@if [ -f /etc/mosquitto/mosquitto.conf ] && ! (echo > /dev/tcp/127.0.0.1/1883) 2>/dev/null; then \
		/usr/sbin/mosquitto -d -c /etc/mosquitto/mosquitto.conf || true; fi

bench: $(INSTALLED) mosquitto  ## the figures of bench/README.md (about fifteen minutes)
	@command -v wrk >/dev/null || $(call apt,wrk)
	@test -f /usr/lib/nginx/modules/ngx_nchan_module.so || $(call apt,nginx-light libnginx-mod-nchan)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.fanout --subscribers 1000 --rate 20
	$(BIN)/python -m bench.fanout --subscribers 5000 --rate 2
	$(BIN)/python -m bench.mqtt_clients
	$(BIN)/python -m bench.mqtt
	$(BIN)/python -m bench.proxy
	$(BIN)/python -m bench.auth

# Install a Debian package when root (CI, the project's machines); otherwise say what is missing.
apt = { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq $(1) >/dev/null; } \
	|| echo "$(1) is not installed and cannot be installed here: apt-get install $(1)"

GEN := connectors/entrypoints/grpc_api
protos: $(INSTALLED)  ## regenerate $(GEN) from specs/proto (tests check it is current)
	$(BIN)/python -m tools.protos

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
