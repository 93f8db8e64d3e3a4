#!/usr/bin/env bash
# govulncheck over ./... without network access to vuln.go.dev: govulncheck
# and the Go vulnerability database both come from the Go module proxy.
# The database is golang.org/x/vulndb's data/osv (one OSV file per report),
# indexed into the v1 layout govulncheck reads from -db file://... by
# x/vulndb's own cmd/indexdb. Both are cached; a second run is offline.
# Exit status is govulncheck's: non-zero when the code calls a known
# vulnerable function. VULNDB_VERSION pins the snapshot; move it forward to
# see newer reports. The standard library is the one of the go command that
# runs: with go1.26.8 this database reports standard-library vulnerabilities
# fixed in go1.26.9 and go1.26.10 (GOTOOLCHAIN=go1.26.10 fetches that
# toolchain from the module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."

VULN_VERSION=${VULN_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
CACHE=${FERRY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-tools}
BIN=$CACHE/govulncheck-$VULN_VERSION
DB=$CACHE/vulndb-$VULNDB_VERSION

if [ ! -x "$BIN/govulncheck" ]; then
  echo "vulncheck: installing golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION into $BIN" >&2
  GOBIN=$BIN GOFLAGS=-modcacherw go install "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION"
fi

if [ ! -s "$DB/index/db.json" ]; then
  echo "vulncheck: building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION into $DB" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  src=$(cd "$tmp" && GOFLAGS=-modcacherw go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
    echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv; cannot build a database" >&2
    exit 1
  fi
  (cd "$tmp" && GOFLAGS=-modcacherw go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" \
    -vulns "$src/data/osv" -out "$tmp/db")
  mkdir -p "$(dirname "$DB")"
  rm -rf "$DB" && mv "$tmp/db" "$DB"
  echo "vulncheck: $(ls "$DB/ID" | grep -c "\.json$") reports indexed" >&2
fi

echo "vulncheck: govulncheck $VULN_VERSION, database golang.org/x/vulndb@$VULNDB_VERSION, $(go env GOVERSION)" >&2
if [ $# -eq 0 ]; then set -- ./...; fi
exec "$BIN/govulncheck" -db "file://$DB" "$@"
