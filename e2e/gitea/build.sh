#!/usr/bin/env bash
# Builds the Gitea server the pull-request tests run against, once, into a
# cache outside the repository so every clone on this machine reuses it.
# Idempotent: an existing binary whose --version works is kept.
#
# Output: ${FERRY_TOOLS:-$HOME/.cache/ferry/tools}/gitea-1.26.0, and next to it
# gitea-1.26.0.static/ with Gitea's options/, templates/ and public/. Without
# the bindata tag (whose generated files are not in the module) Gitea reads
# those from STATIC_ROOT_PATH, and refuses to start without its locales.
# The binary's path is the last line of stdout: FERRY_GITEA=$(./build.sh | tail -1)
set -euo pipefail

version=1.26.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${FERRY_TOOLS:-$HOME/.cache/ferry/tools}"
bin="$tools/gitea-$version"
static="$bin.static"

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1 && [ -d "$static/options/locale" ]; then
  echo "e2e/gitea/build.sh: reusing $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$tools"
cd "$here/tools"
start=$SECONDS
if ! { [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; }; then
  echo "e2e/gitea/build.sh: building Gitea $version into $bin (about 9-14 min the first time on 2 cores)" >&2
  # go.sum here pins every module; -mod=readonly refuses to change it.
  # Build into a temp name and rename, so an interrupted build never looks done.
  CGO_ENABLED=1 go build -mod=readonly -trimpath \
    -tags 'sqlite sqlite_unlock_notify' \
    -ldflags "-s -w -X 'main.Version=$version' -X 'main.Tags=sqlite sqlite_unlock_notify'" \
    -o "$bin.tmp" code.gitea.io/gitea
  mv "$bin.tmp" "$bin"
fi

go mod download code.gitea.io/gitea # a no-op unless the module cache was cleaned
src="$(go list -mod=readonly -m -f '{{.Dir}}' code.gitea.io/gitea)"
rm -rf "$static.tmp"
mkdir -p "$static.tmp"
cp -R "$src/options" "$src/templates" "$src/public" "$static.tmp/"
chmod -R u+w "$static.tmp" # the module cache is read-only
rm -rf "$static"
mv "$static.tmp" "$static"

echo "e2e/gitea/build.sh: $("$bin" --version 2>/dev/null) ready in $((SECONDS - start))s: $bin" >&2
echo "$bin"
