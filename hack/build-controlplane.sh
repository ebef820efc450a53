#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kubectl) from the pinned Go modules in
# hack/controlplane into .cache/testenv/bin. Skips the build when the pins and the Go version
# are unchanged (a stamp file records them), so only a pin change costs a rebuild.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/hack/controlplane"
bin="$root/.cache/testenv/bin"
command -v go >/dev/null || { echo "build-controlplane: Go is required to build the test control plane" >&2; exit 1; }
stamp=$( (go version; cat "$src/go.mod" "$src/go.sum" "$src"/*.go "$src"/etcd/*.go) | sha256sum | cut -d' ' -f1)
if [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp" ] \
  && [ -x "$bin/etcd" ] && [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ]; then
  exit 0
fi
mkdir -p "$bin"
echo "build-controlplane: building etcd, kube-apiserver, kubectl (first time: 10-25 min on 2 cores)" >&2
cd "$src"
start=$(date +%s)
# Progress for a cold build (one go build, 10+ minutes): a line per binary when it is written,
# with the elapsed time, and a heartbeat every minute until all three are there. Watches only;
# nothing here feeds the stamp.
marker=$(mktemp)
progress() {
  local pending=(etcd kube-apiserver kubectl) still b ticks=0
  while [ ${#pending[@]} -gt 0 ]; do
    sleep 5
    ticks=$((ticks + 1))
    still=()
    for b in "${pending[@]}"; do
      if [ "$bin/$b" -nt "$marker" ]; then
        echo "build-controlplane: $b built ($(( $(date +%s) - start ))s)" >&2
      else
        still+=("$b")
      fi
    done
    pending=(${still[@]+"${still[@]}"})
    if [ $((ticks % 12)) -eq 0 ] && [ ${#pending[@]} -gt 0 ]; then
      echo "build-controlplane: still building ${pending[*]} ($(( $(date +%s) - start ))s)" >&2
    fi
  done
}
progress &
watcher=$!
trap 'kill "$watcher" 2>/dev/null || true; rm -f "$marker"' EXIT
go build -trimpath -o "$bin/" ./etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
wait "$watcher" || true
echo "$stamp" > "$bin/.stamp"
echo "build-controlplane: done in $(( $(date +%s) - start ))s" >&2
