#!/usr/bin/env bash
# Builds the kube-apiserver the Kubernetes tests run against, once, into a
# cache outside the repository so every clone on this machine reuses it.
# Idempotent: an existing binary whose --version works is kept.
#
# No controllers are built or run: the tests play them (they write Deployment
# and Flux Kustomization status themselves). etcd comes from Debian's
# etcd-server (e2e/setup.sh installs it).
#
# Output: ${FERRY_TOOLS:-$HOME/.cache/ferry/tools}/kube-apiserver-1.36.3
# The binary's path is the last line of stdout:
#   FERRY_KUBE_APISERVER=$(e2e/kube/build.sh | tail -1)
set -euo pipefail

version=1.36.3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${FERRY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/tools}"
bin="$tools/kube-apiserver-$version"

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  echo "e2e/kube/build.sh: reusing $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$tools"
cd "$here/tools"
start=$SECONDS
echo "e2e/kube/build.sh: building kube-apiserver $version into $bin (about 6-7 min the first time on 2 cores)" >&2
# go.sum here pins every module; -mod=readonly refuses to change it.
# Build into a temp name and rename, so an interrupted build never looks done.
CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$version" \
  -o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$bin.tmp" "$bin"

echo "e2e/kube/build.sh: $("$bin" --version 2>/dev/null) ready in $((SECONDS - start))s: $bin" >&2
echo "$bin"
