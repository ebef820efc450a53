# kleym: every target uses the Deno pinned in package.json (node_modules/.bin/deno).
SHELL := /bin/bash
DENO := node_modules/.bin/deno
# The compiled operator's permissions have ONE definition: the "operator-incluster" task in
# deno.json, the narrowest set the Deployment needs (docs/permissions.md; the "operator" task is
# the local, kubeconfig one). `make build` compiles with exactly those flags.
# V8 flags and --no-code-cache (docs/benchmarks.md "Memory") travel with the permissions
# (tools/task_flags.ts: every -- flag of the task).
OPERATOR_PERMS = $(shell $(DENO) run --quiet --allow-read=deno.json tools/task_flags.ts operator-incluster)
# The CLI's likewise: the "kleym" task in deno.json (docs/cli.md, docs/permissions.md).
CLI_PERMS = $(shell $(DENO) run --quiet --allow-read=deno.json tools/task_flags.ts kleym)
TESTENV := $(DENO) run -A tools/testenv.ts
# The one version source (apis/version.ts): the operator, the CLI, the image tag, deploy.yaml.
VERSION = $(shell sed -n 's/^export const VERSION = "\(.*\)";$$/\1/p' apis/version.ts)
IMAGE ?= kleym-operator:$(VERSION)
# kubectl for deploy/undeploy against your cluster (the current context of $$KUBECONFIG).
KUBECTL ?= kubectl
UNDEPLOY_TIMEOUT ?= 120s
# Where `make kubectl-plugin` puts kubectl-kleym; it must be on PATH (docs/cli.md).
PREFIX ?= $(HOME)/.local/bin
CRD := customresourcedefinition/inferenceidentitybindings.kleym.sonda.red

.PHONY: all deps controlplane spire e2e-spire cluster-up cluster-down check fmt test test-unit demo build codegen clean operator-perms cli-perms bench bench-v8flags bench-scale resilience manifests deploy undeploy image version kubectl-plugin

all: check

$(DENO): package.json package-lock.json
	npm ci --no-audit --no-fund --no-update-notifier
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

# deploy.yaml and crds.yaml from the kustomize tree in config/ with the project's built kubectl
# (tools/manifests.ts; the image tag is VERSION).
manifests: deps controlplane
	$(DENO) run --allow-read=. --allow-write=deploy.yaml,crds.yaml,config/manager --allow-run --frozen tools/manifests.ts

version:
	@echo $(VERSION)

image:
	docker build -t $(IMAGE) .

# Install: the CRD first (and established), then the operator (docs/operations.md).
deploy:
	$(KUBECTL) apply --server-side -f crds.yaml
	$(KUBECTL) wait --for=condition=Established --timeout=60s $(CRD)
	$(KUBECTL) apply --server-side -f deploy.yaml

# Uninstall in the order that leaves nothing stuck and no identity registered: every binding
# (the running operator removes its ClusterSPIFFEIDs and finalizers), then the operator, then the
# CRD. Fails, changing nothing further, if bindings are still there after UNDEPLOY_TIMEOUT.
# Every object in deploy.yaml but the CRD carries app.kubernetes.io/name=kleym (deploy_test.ts).
undeploy:
	@if $(KUBECTL) get $(CRD) >/dev/null 2>&1; then \
	  echo "undeploy: deleting every InferenceIdentityBinding (the operator finalizes each one)"; \
	  $(KUBECTL) delete inferenceidentitybindings.kleym.sonda.red --all --all-namespaces \
	    --wait=true --timeout=$(UNDEPLOY_TIMEOUT) || { \
	    echo "undeploy: bindings are still finalizing: is the operator running? (kubectl get iib -A)" >&2; \
	    exit 1; }; \
	fi
	@echo "undeploy: deleting the operator (deploy.yaml but the CRD)"
	$(KUBECTL) delete -f deploy.yaml -l app.kubernetes.io/name=kleym --ignore-not-found --wait=false
	@if $(KUBECTL) get deployment/kleym-operator -n kleym-system >/dev/null 2>&1; then \
	  $(KUBECTL) wait --for=delete deployment/kleym-operator -n kleym-system --timeout=$(UNDEPLOY_TIMEOUT); \
	fi
	@echo "undeploy: deleting the CRD (crds.yaml)"
	$(KUBECTL) delete -f crds.yaml --ignore-not-found --wait=true --timeout=$(UNDEPLOY_TIMEOUT)

fmt: deps
	$(DENO) fmt

check: deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check --frozen .

# Every test: unit, integration and SPIRE end-to-end tests against one real control plane for
# the run (the SPIRE tests start their own SPIRE Server + Controller Manager on it).
# LOAD=N runs the tests beside N CPU-burning processes, stopped afterwards whatever happens
# (tools/with-load.sh; a regression guard for timing assumptions, docs/testing.md).
test: check controlplane spire
	$(if $(LOAD),tools/with-load.sh $(LOAD) )$(TESTENV) run -- $(DENO) test -A --frozen tests/

e2e-spire: deps controlplane spire
	$(TESTENV) run -- $(DENO) test -A --frozen tests/e2e_spire/

# Benchmarks (not part of make test): N=, N_LARGE=, LARGE=0, STEADY_SECONDS=, CHURN_SECONDS=,
# SCALE=0, SCALE_N=, SCALE_SPREAD=, REFERENCE=1.
bench: deps controlplane
	$(DENO) run -A --frozen bench/main.ts

# V8 flag sets compared on memory and the 10,000-binding restart only (bench/v8flags.ts):
# V8_FLAGS="set;set" (comma lists, as in --v8-flags=), N=, N_LARGE=, SMALL=0, LARGE=0.
bench-v8flags: deps controlplane
	$(DENO) run -A --frozen bench/v8flags.ts

# The namespace-scale phase of make bench alone (bench/scale.ts): SCALE_N converged bindings in one
# namespace, then spread over SCALE_SPREAD namespaces; restart, first pass, peak RSS of each.
bench-scale: deps controlplane
	$(DENO) run -A --frozen bench/scale.ts

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
	ln -sfn kleym dist/kubectl-kleym

# `kubectl kleym ...` = `./kleym ...` from this checkout: links $(PREFIX)/kubectl-kleym to the
# repository's kubectl-kleym script, which follows the link back here (docs/cli.md). The pinned
# Deno is installed now, so the first plugin run needs no npm.
kubectl-plugin: $(DENO)
	mkdir -p "$(PREFIX)"
	ln -sfn "$(CURDIR)/kubectl-kleym" "$(PREFIX)/kubectl-kleym"
	@echo "kubectl-plugin: $(PREFIX)/kubectl-kleym -> $(CURDIR)/kubectl-kleym ($(PREFIX) must be on PATH)"

demo: deps controlplane
	$(DENO) run -A tools/demo.ts $(if $(ONCE),--once,)

clean:
	rm -rf dist .cache/testenv/runs
