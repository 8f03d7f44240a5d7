# buildbot-modules — the two commands a newcomer runs are `make demo` and `make test`.
# Everything else here is what those two need: system packages, one virtualenv (.venv/).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DEB_PACKAGES := rpm createrepo-c gir1.2-modulemd-2.0 libgirepository1.0-dev libcairo2-dev \
	pkg-config dnf dnf-plugins-core rpmlint libkrb5-dev git bubblewrap graphviz gcc postgresql \
	gpg chromium chromium-driver rabbitmq-server
RPM_PACKAGES := rpm-build createrepo_c python3-libmodulemd libmodulemd gobject-introspection-devel \
	cairo-gobject-devel cairo-devel pkgconf-pkg-config dnf-plugins-core rpmlint krb5-devel git \
	bubblewrap graphviz gcc python3-devel postgresql-server gnupg2 chromium chromedriver rabbitmq-server

.PHONY: setup system-packages venv crossbar test lint format demo demo-stop lock clean fuzz docs bench

setup: system-packages $(STAMP) crossbar

# Installs only what is missing, so a second `make setup` costs a second.
system-packages:
	@if command -v apt-get >/dev/null 2>&1; then \
	  if ! dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then \
	    echo "== installing system packages (apt-get)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PACKAGES); \
	  fi; \
	elif command -v dnf >/dev/null 2>&1; then \
	  if ! rpm -q $(RPM_PACKAGES) >/dev/null 2>&1; then \
	    echo "== installing system packages (dnf)"; \
	    dnf install -y $(RPM_PACKAGES); \
	  fi; \
	else \
	  echo "error: neither apt-get nor dnf found; install by hand: $(DEB_PACKAGES)" >&2; exit 1; \
	fi

venv: $(STAMP)

# The example QE check plug-in (contrib/checks/) is installed beside the project, as a
# QE team's own package would be; its tests run with the project's. The message bus
# schemas (messages/bbmod-messages, entry points `fedora.messages`) are installed the same way.
PLUGINS := contrib/checks/bbmod-check-license messages/bbmod-messages
empty :=
space := $(empty) $(empty)

$(STAMP): pyproject.toml constraints.txt $(addsuffix /pyproject.toml,$(PLUGINS))
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,latent]'
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps $(addprefix -e ,$(PLUGINS))
	@touch $@

# Crossbar, the WAMP router of a multi-master site (docs/scaling.md), lives in its own
# virtualenv: its pins clash with ours (it needs a newer Twisted). Exact versions in
# constraints-crossbar.txt; the multi-master test runs .venv-crossbar/bin/crossbar.
CROSSBAR_VENV := .venv-crossbar
CROSSBAR_STAMP := $(CROSSBAR_VENV)/.installed

crossbar: $(CROSSBAR_STAMP)

$(CROSSBAR_STAMP): constraints-crossbar.txt
	@test -x $(CROSSBAR_VENV)/bin/python || $(PYTHON) -m venv $(CROSSBAR_VENV)
	$(CROSSBAR_VENV)/bin/python -m pip install -q --disable-pip-version-check -r constraints-crossbar.txt
	@touch $@

test: setup
	@set -o pipefail; PYTHONPATH=$(subst $(space),:,$(PLUGINS)) $(VPY) -m twisted.trial tests bbmod_check_license 2>&1 | tee .trial.log; \
	  $(VPY) tools/trial_summary.py .trial.log

lint: setup
	$(VENV)/bin/ruff check buildbot_modules tests bench tools contrib/checks fuzz
	$(VENV)/bin/ruff format --check buildbot_modules tests bench tools contrib/checks fuzz
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix buildbot_modules tests bench tools contrib/checks
	$(VENV)/bin/ruff format buildbot_modules tests bench tools contrib/checks

# The load run of docs/reliability.md ("Load"): 20 modules at once plus 10 minutes of pushes
# on 4 workers, then every verification (bench/soak.py); ~15 minutes. Not part of `make test`
# (tests/test_load.py runs a short one). Results also in SOAK_JSON.
SOAK_JSON ?= /tmp/bbmod-soak.json
.PHONY: soak
soak: setup
	PYTHONPATH=$(CURDIR) $(VPY) bench/soak.py --modules 20 --components 4 --minutes 10 --workers 4 --json $(SOAK_JSON)

# The whole system on this machine, in .demo/: a local dist-git made from contrib/, a master
# on http://localhost:8010/ and two workers; builds and publishes every example module, then
# prints the waterfall, the stage repository and a dnf command. Safe to run again.
demo: setup
	@$(VPY) -m buildbot_modules.demo --folder .demo

demo-stop:
	@test -x $(VPY) || { echo "nothing to stop (no $(VENV))"; exit 0; }; \
	  $(VPY) -m buildbot_modules.demo stop --folder .demo

# The documentation site (docs/contributing-docs.md), strict: a broken link, a page missing
# from mkdocs.yml's nav or a diagram dot cannot render fails. Writes the generated API page
# of contrib's base-runtime first; the diagrams (docs/diagrams/*.dot) are rendered by the
# build itself (tools/mkdocs_hooks.py). Output: build/site/index.html.
docs: setup
	PYTHONPATH=. $(VPY) -m buildbot_modules.cli docs api contrib/modules/base-runtime/base-runtime.yaml \
	  --sources contrib/rpms --stream main --output docs/base-runtime-api.md
	$(VENV)/bin/mkdocs build --strict

# Fuzzes the module loader + lint, gating policies and the webhook parsers (docs/fuzzing.md):
# FUZZ_SECONDS per target (default 60); exits non-zero on a finding. Not part of `make test`.
FUZZ_SECONDS ?= 60
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(VPY) fuzz/run.py $(FUZZ_TARGETS)

# Every benchmark in bench/ (bench/run_all.py), one after the other, then one table of every
# figure with its goal (docs/performance.md); logs and JSON in .bench/. ~15 min on 2 cores;
# BENCH_ARGS=--quick for a smaller run (~5 min), BENCH_ARGS="--only scale" for one.
bench: setup
	PYTHONPATH=$(CURDIR) $(VPY) bench/run_all.py $(BENCH_ARGS)

# Re-resolves the newest versions the ranges allow; review the diff, then run make test.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev,latent]'
	{ head -2 constraints.txt; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(CROSSBAR_VENV) .trial.log _trial_temp
