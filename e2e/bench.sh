#!/usr/bin/env bash
# make bench: ferry's performance targets, each beside a peer tool in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
KUSTOMIZE_VERSION=v5.8.1
mkdir -p bin
if ! bin/kustomize version 2>/dev/null | grep -q "${KUSTOMIZE_VERSION}"; then
  echo "installing kustomize ${KUSTOMIZE_VERSION} (the peer for overlay bumps) into bin/"
  GOBIN="$PWD/bin" CGO_ENABLED=0 go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
fi
export KUSTOMIZE="$PWD/bin/kustomize"
./e2e/setup.sh >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { echo "+ $*" >&2; "$@" | tee -a "$out"; }

echo "== (b) overlay bump: ferry (kyaml, in-process) vs kustomize edit set image (process)"
run go test -run '^$' -bench 'BenchmarkSetImage|BenchmarkKustomizeEditSetImage' -benchmem -count 1 ./overlays/
echo "== fleet commit + push: ferry (go-git) vs the git CLI, against git http-backend"
run go test -run '^$' -bench 'CommitPush' -benchmem -count 1 ./agent/fleet/
echo "== (a) registry notification -> commit pushed; (c) no-op pass over 1,000 apps x 5 envs"
run go test -tags e2e -run '^$' -bench 'BenchmarkWebhookToPush|BenchmarkNoopPass1000' -benchtime 30x -count 1 -timeout 30m ./e2e/

echo
echo "== summary"
awk '
  /^BenchmarkSetImage\/small/ {ferry=$3}
  /^BenchmarkKustomizeEditSetImage/ {kust=$3}
  /^BenchmarkWebhookToPush/ {for (i=1;i<=NF;i++) if ($i ~ /^p(50|95)-ms/) printf "  webhook -> push  %-22s %8.1f ms  (target p50 < 200 ms)\n", $i, $(i-1)}
  /^BenchmarkNoopPass1000/ {for (i=1;i<=NF;i++) if ($i=="wall-ms"||$i=="peak-rss-MiB") printf "  no-op pass 1000x5 %-22s %8.1f      (target < 5000 ms, < 300 MiB)\n", $i, $(i-1)}
  /CommitPush/ {printf "  %-40s %12.2f ms/op\n", $1, $3/1e6}
  END { if (ferry > 0 && kust > 0) printf "  overlay bump: ferry %.0f ns, kustomize edit set image %.0f ns: %.0fx faster (target >= 10x)\n", ferry, kust, kust/ferry }
' "$out"
