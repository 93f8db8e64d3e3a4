#!/usr/bin/env bash
# Builds the cosign CLI the supply-chain tests sign and attest with (as a
# user's CI would), once, into the tool cache outside the repository.
# Idempotent: an existing binary whose `version` works is kept.
# The binary's path is the last line of stdout: FERRY_COSIGN=$(./build.sh | tail -1)
set -euo pipefail

version=3.1.3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${FERRY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/tools}"
bin="$tools/cosign-$version"

if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
  echo "e2e/cosign/build.sh: reusing $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$tools"
cd "$here/tools"
start=$SECONDS
echo "e2e/cosign/build.sh: building cosign $version into $bin (about 2.5 min the first time on 2 cores)" >&2
# go.sum here pins every module; -mod=readonly refuses to change it. Build
# into a temp name and rename, so an interrupted build never looks done.
CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=v$version" \
  -o "$bin.tmp" github.com/sigstore/cosign/v3/cmd/cosign
mv "$bin.tmp" "$bin"

echo "e2e/cosign/build.sh: cosign $version ready in $((SECONDS - start))s: $bin" >&2
echo "$bin"
