#!/usr/bin/env bash
# Builds SPIRE Server and SPIRE Controller Manager for the SPIRE e2e tests from the pinned Go
# module in hack/spire into .cache/testenv/bin. Skips the build when the pins and the Go version
# are unchanged (a stamp file records them), so only a pin change costs a rebuild.
# spire-server needs cgo (its SQLite datastore uses mattn/go-sqlite3), so a C compiler too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/hack/spire"
bin="$root/.cache/testenv/bin"
command -v go >/dev/null || { echo "build-spire: Go is required to build the SPIRE test stack" >&2; exit 1; }
stamp=$( (go version; cat "$src/go.mod" "$src/go.sum" "$src"/*.go) | sha256sum | cut -d' ' -f1)
if [ -f "$bin/.stamp-spire" ] && [ "$(cat "$bin/.stamp-spire")" = "$stamp" ] \
  && [ -x "$bin/spire-server" ] && [ -x "$bin/spire-controller-manager" ]; then
  exit 0
fi
command -v "${CC:-cc}" >/dev/null || { echo "build-spire: a C compiler is required (cgo, SQLite)" >&2; exit 1; }
mkdir -p "$bin"
rm -f "$bin/.stamp-spire"
echo "build-spire: building spire-server, spire-controller-manager (first time: several minutes)" >&2
cd "$src"
# The binary names matter: tests/harness/process.ts recognises our processes by them.
start=$(date +%s)
CGO_ENABLED=1 go build -trimpath -o "$bin/spire-server" github.com/spiffe/spire/cmd/spire-server
mid=$(date +%s)
echo "build-spire: spire-server built in $((mid - start))s" >&2
go build -trimpath -o "$bin/spire-controller-manager" github.com/spiffe/spire-controller-manager/cmd
echo "build-spire: spire-controller-manager built in $(( $(date +%s) - mid ))s" >&2
echo "$stamp" > "$bin/.stamp-spire"
echo "build-spire: done in $(( $(date +%s) - start ))s" >&2
