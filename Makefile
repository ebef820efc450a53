# kleym: every target uses the Deno pinned in package.json (node_modules/.bin/deno).
SHELL := /bin/bash
DENO := node_modules/.bin/deno
# The operator's permissions have ONE definition: the "operator" task in deno.json
# (docs/permissions.md). `make build` compiles with exactly those flags.
# V8 flags (--v8-flags=..., docs/benchmarks.md "Memory") travel with the permissions.
OPERATOR_PERMS = $(shell $(DENO) eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).tasks.operator.match(/--(allow-|deny-|v8-flags=)\S+/g).join(" "))')
# The CLI's likewise: the "kleym" task in deno.json (docs/cli.md, docs/permissions.md).
CLI_PERMS = $(shell $(DENO) eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).tasks.kleym.match(/--(allow|deny)-\S+/g).join(" "))')
TESTENV := $(DENO) run -A tools/testenv.ts

.PHONY: all deps controlplane spire e2e-spire cluster-up cluster-down check fmt test test-unit demo build codegen clean operator-perms cli-perms bench resilience

all: check

$(DENO): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(DENO)

deps: $(DENO)
	$(DENO) install --frozen --entrypoint main.ts tools/testenv.ts >/dev/null

controlplane:
	hack/build-controlplane.sh

# SPIRE Server + SPIRE Controller Manager for the end-to-end tests (docs/spire-e2e.md).
spire:
	hack/build-spire.sh

cluster-up: deps controlplane
	$(TESTENV) up

cluster-down: deps
	$(TESTENV) down

codegen: deps
	$(DENO) task codegen

fmt: deps
	$(DENO) fmt

check: deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check --frozen .

# Every test: unit, integration and SPIRE end-to-end tests against one real control plane for
# the run (the SPIRE tests start their own SPIRE Server + Controller Manager on it).
test: check controlplane spire
	$(TESTENV) run -- $(DENO) test -A --frozen tests/

e2e-spire: deps controlplane spire
	$(TESTENV) run -- $(DENO) test -A --frozen tests/e2e_spire/

# Benchmarks (not part of make test): N=, N_LARGE=, LARGE=0, STEADY_SECONDS=, CHURN_SECONDS=, REFERENCE=1.
bench: deps controlplane
	$(DENO) run -A --frozen bench/main.ts

# The full resilience suite (make test runs the short one): SEED= replays a run, CHURN_SECONDS=.
resilience: deps controlplane
	$(DENO) run -A --frozen tests/resilience/main.ts

test-unit: deps
	$(DENO) test -A --frozen tests/unit/

operator-perms:
	@echo $(OPERATOR_PERMS)

cli-perms:
	@echo $(CLI_PERMS)

build: deps
	mkdir -p dist
	$(DENO) compile $(OPERATOR_PERMS) --frozen --output dist/kleym-operator main.ts
	$(DENO) compile $(CLI_PERMS) --frozen --output dist/kleym cli/main.ts

demo: deps controlplane
	$(DENO) run -A tools/demo.ts $(if $(ONCE),--once,)

clean:
	rm -rf dist .cache/testenv/runs
