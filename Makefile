# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_DEBUG ?= 1
# Debian's packages (Redis, PostgreSQL, Chromium) install as root, or through sudo otherwise.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint format bench bench-dashboard install services browser gettext axe translations messages clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

## Start the service on http://127.0.0.1:$(PORT)/ with demo users and rooms.
run: install translations
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py seed_demo --conversation --url http://127.0.0.1:$(PORT)/
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## Run every test: lint, unit, Redis, PostgreSQL, real server processes and the browser.
## Installs Redis, PostgreSQL and Chromium from Debian's packages when they are missing.
test: install services browser translations axe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# Redis and PostgreSQL (the tests use both): installed from Debian's packages when missing,
# started when down, and a loud failure when that does not work. The tests log in to
# PostgreSQL as postgres@127.0.0.1 without a password, so a cluster installed here is told to
# trust that user on the loopback address; an existing cluster's settings are left alone.
services:
	@set -e; missing=""; \
	command -v redis-server >/dev/null || missing="redis-server"; \
	ls -d /etc/postgresql/*/main >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing from Debian's packages"; \
	  { $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	    { echo "make: could not install$$missing (apt-get, as root or through sudo)" >&2; exit 1; }; \
	fi; \
	cluster=$$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1); \
	case "$$missing" in *postgresql*) \
	  hba=/etc/postgresql/$$cluster/main/pg_hba.conf; new_hba=$$(mktemp); \
	  { printf 'host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust\n'; \
	    $(SUDO) cat $$hba; } > $$new_hba && $(SUDO) cp $$new_hba $$hba; rm -f $$new_hba; \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$cluster main reload 2>/dev/null || true;; \
	esac; \
	redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" >/dev/null; \
	pg_isready -h 127.0.0.1 -q || \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$cluster main start; \
	for i in $$(seq 30); do \
	  pg_isready -h 127.0.0.1 -q && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; \
	done; \
	redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || \
	  { echo "make: Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }; \
	psql postgres://postgres@127.0.0.1:5432/postgres -qtAc 'SELECT 1' >/dev/null || \
	  { echo "make: PostgreSQL on 127.0.0.1:5432 does not let user postgres in without a password (README, Tests)" >&2; exit 1; }

# Debian's Chromium for the browser tests (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || ($(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# GNU gettext (msgfmt, xgettext) from Debian's packages: compilemessages and makemessages run it.
gettext:
	@command -v msgfmt >/dev/null || ($(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null)

## The Spanish catalogues (locale/) compiled to the .mo files Django reads; not committed.
translations: install gettext
	$(BIN)/python manage.py compilemessages --ignore .venv --ignore node_modules -v0

## Collect new and changed texts of the templates, Python and the clients into locale/*.po.
messages: install gettext
	$(BIN)/python manage.py makemessages -l es --no-obsolete
	$(BIN)/python manage.py makemessages -l es --no-obsolete -d djangojs

# axe-core for the accessibility checks of the browser tests, pinned in tests/e2e/axe/.
# npm from Debian's packages when missing.
axe:
	@command -v npm >/dev/null || ($(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)
	@test -d tests/e2e/axe/node_modules/axe-core || npm ci --prefix tests/e2e/axe --silent --no-audit --no-fund

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install services
	$(BIN)/python -m bench

# The service again with an operations dashboard open: its headline must match `make bench`'s.
bench-dashboard: install services
	$(BIN)/python -m bench --systems service --dashboard --json bench/results/dashboard.json --markdown bench/results/dashboard.md

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
