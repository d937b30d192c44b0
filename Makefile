# The two set-up commands: `make demo` (the walk-through) and `make test` (the whole suite).
SHELL := /bin/bash
# The system interpreter when it can make a venv: every account on the host must be able to run the
# commands (a venv on an interpreter under a private home works for its owner only).
PYTHON ?= $(shell /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := docker.io debootstrap util-linux passwd groff-base man-db zsh bash-completion git openssh-client \
	openssh-server prometheus slurm-wlm slurmdbd mariadb-server munge slurm-client gcc libc6-dev

.PHONY: demo test test-fast test-gpu lint deps system-deps generate check-generated bench clean install uninstall
PREFIX ?= /opt/ds01
SYSCONFDIR ?= /etc
DESTDIR ?=

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Debian packages the tests need: a private Docker engine, groff/man for the man pages, zsh for completions,
# git (project-init), ssh-keygen (user-setup), sshd (the VS Code Remote-SSH test) and Prometheus with
# promtool (the exporter's and the rules' tests), and Slurm with its database and munge (the private multi-node
# Slurm of tests/support/slurm.py), and a C compiler for the fast client (ds01/client.c) (installed only when root
# and something is missing).
system-deps:
	@missing=""; for t in cc dockerd debootstrap setpriv useradd groff man zsh git ssh-keygen prometheus promtool \
	  slurmctld slurmd slurmdbd sacctmgr munged mariadbd; do command -v $$t >/dev/null || missing=1; done; \
	test -x /usr/sbin/sshd || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(APT_PACKAGES) ..." >&2; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else echo "note: run as root to install $(APT_PACKAGES) (needed for a private Docker engine)" >&2; fi; \
	fi

# pip runs again only when what it installs changed (the package's metadata, its scripts, the version): a
# second `make test-fast` starts pytest at once.
$(VENV)/.deps: $(BIN)/python setup.py pyproject.toml ds01/__init__.py ds01/client.c ds01/protocol.py ds01/generate/bins.py $(wildcard bin/*) $(wildcard libexec/ds01/*)
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	@# served commands start the C client (ds01/client.c), the rest an isolated interpreter (-IS)
	$(BIN)/python -c 'import sys; from ds01.generate.bins import isolate; isolate(*sys.argv[1:])' $(BIN) $(abspath $(BIN))/python3
	touch $@

deps: $(VENV)/.deps
	@# byte-compile now: with PYTHONDONTWRITEBYTECODE set, every command would recompile its modules
	$(BIN)/python -m compileall -q ds01

# ENGINE=private (the default): a private dockerd with the simulated GPUs, gone afterwards. ENGINE=running: the
# engine that runs, with its host's real GPUs if any (never simulated ones).
ENGINE ?= private
demo: system-deps deps
	DS01_DEMO_ENGINE=$(ENGINE) $(BIN)/python -m tests.support.demo

# The whole suite, after the lint and type gate (make lint).
test: system-deps deps lint
	$(BIN)/python -m pytest -q tests

# The pure-logic tier: no root, no Docker, a few seconds (-m "not system": tests/conftest.py marks the rest).
test-fast: deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not system" tests

# The NVML backend against this machine's real GPUs (read-only: no MIG or GPU setting changes); every test
# skips, saying why, where NVML sees no GPU. bench/gpu_check.sh runs it on a GPU machine from a wheelhouse.
test-gpu: deps
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider -m gpu tests/test_real_gpu.py

# ruff (pyproject.toml) and mypy (strict on the modules pyproject.toml lists, checked everywhere else).
lint: deps
	$(BIN)/ruff check ds01 tests bench
	$(BIN)/mypy

generate: deps
	$(BIN)/python -m ds01.generate

check-generated: deps
	$(BIN)/python -m ds01.generate --check

bench: deps system-deps
	$(BIN)/python bench/container_list.py
	$(BIN)/python bench/gpu_allocator.py
	$(BIN)/python bench/images.py
	$(BIN)/python bench/completion.py
	$(BIN)/python bench/lifecycle.py
	$(BIN)/python bench/aime_interop.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/live_view.py

# The production path (docs/admin.md): a versioned tree under $(PREFIX) with its own venv, a `current` link,
# and the system files (man, completions, profile.d, cron, logrotate, tmpfiles, units); /etc/ds01 only where absent.
install:
	$(PYTHON) -m ds01.install --prefix $(PREFIX) --sysconfdir $(SYSCONFDIR) --destdir "$(DESTDIR)" --python $(PYTHON)

# Everything install put in place, except the policy in $(SYSCONFDIR)/ds01.
uninstall:
	$(PYTHON) -m ds01.install --uninstall --prefix $(PREFIX) --sysconfdir $(SYSCONFDIR) --destdir "$(DESTDIR)"

clean:
	rm -rf $(VENV) build *.egg-info
