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
go build -trimpath -o "$bin/" ./etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
echo "$stamp" > "$bin/.stamp"
echo "build-controlplane: done in $(( $(date +%s) - start ))s" >&2
