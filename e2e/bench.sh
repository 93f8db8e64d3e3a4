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
OPA_VERSION=v1.22.3
if ! bin/opa version 2>/dev/null | grep -q "${OPA_VERSION#v}"; then
  echo "installing opa ${OPA_VERSION} (the peer for policy decisions) into bin/"
  GOBIN="$PWD/bin" CGO_ENABLED=0 go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
fi
export FERRY_OPA="$PWD/bin/opa"
./e2e/setup.sh >/dev/null
# The real cosign CLI signs the benchmark's image and is the peer for verification.
export FERRY_COSIGN="$(./e2e/cosign/build.sh | tail -n 1)"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { echo "+ $*" >&2; "$@" | tee -a "$out"; }

echo "== (b) overlay bump: ferry (kyaml, in-process) vs kustomize edit set image (process)"
run go test -run '^$' -bench 'BenchmarkSetImage|BenchmarkKustomizeEditSetImage' -benchmem -count 1 ./overlays/
echo "== one policy decision: ferry (prepared query, in-process) vs opa eval (process), default policies"
run go test -run '^$' -bench 'BenchmarkDecide|BenchmarkOPAEvalProcess' -benchmem -count 1 ./policies/
echo "== fleet commit + push: ferry (go-git) vs the git CLI, against git http-backend"
run go test -run '^$' -bench 'CommitPush' -benchmem -count 1 ./agent/fleet/
echo "== canary judge quality on simulated series (real Compile + Runner): intervals to detect a +5 point error regression, false aborts of 100 healthy canaries"
run go test -run '^$' -bench 'BenchmarkJudgeQuality' -count 1 ./analysis/
echo "== registry notification -> commit pushed; Alertmanager notification -> rollback pushed; no-op pass over 1,000 apps x 5 envs"
run go test -tags e2e -run '^$' -bench 'BenchmarkWebhookToPush|BenchmarkNoopPass1000|BenchmarkAlertToRollback$' -benchtime 30x -count 1 -timeout 30m ./e2e/
echo "== Alertmanager notification -> rollback pushed while another app's registry is black-holed and passes run every second; canary step pushed -> its analysis started"
run go test -tags e2e -run '^$' -bench 'BenchmarkAlertToRollbackBlackHoled|BenchmarkStepToAnalysis' -benchtime 10x -count 1 -timeout 30m ./e2e/
echo "== trusting one candidate (a cosign 3 signature and a vuln attestation, real registry): ferry from scratch, ferry's per-digest cache, cosign verify (process)"
run go test -tags e2e -run '^$' -bench 'BenchmarkVerifyCandidate' -benchtime 50x -count 1 -timeout 10m ./e2e/

echo
echo "== summary"
awk '
  /^BenchmarkSetImage\/small/ {fs=$3} /^BenchmarkSetImage\/1000/ {fl=$3}
  /^BenchmarkKustomizeEditSetImage\/small/ {ks=$3} /^BenchmarkKustomizeEditSetImage\/1000/ {kl=$3}
  /^BenchmarkWebhookToPush/ {for (i=1;i<=NF;i++) if ($i ~ /^p(50|95)-ms/) printf "  webhook -> push   %-22s %8.1f ms   (target p50: first commit < 20 ms, the 5-commit chain < 60 ms; 2026-12 before batching: 33 / 150)\n", $i, $(i-1)}
  /^BenchmarkAlertToRollback-/ {for (i=1;i<=NF;i++) if ($i ~ /^p(50|95)-ms/) printf "  alert -> rollback %-22s %8.1f ms   (target p50 < 20 ms; -at-once: the alert the moment the promotion landed)\n", $i, $(i-1)}
  /^BenchmarkAlertToRollbackBlackHoled/ {for (i=1;i<=NF;i++) if ($i ~ /^p(50|95)-ms/) printf "  alert -> rollback, a registry black-holed %-14s %8.1f ms   (target p50 < 20 ms, as without the fault)\n", $i, $(i-1)}
  /^BenchmarkStepToAnalysis/ {for (i=1;i<=NF;i++) if ($i ~ /^p(50|95)-ms$/) printf "  canary step pushed -> analysis started %-6s %8.2f ms   (target < 100 ms)\n", $i, $(i-1)}
  /^BenchmarkNoopPass1000/ {for (i=1;i<=NF;i++) if ($i=="wall-ms"||$i=="peak-rss-MiB") printf "  no-op pass 1000x5 %-22s %8.1f      (target < 5000 ms, < 300 MiB)\n", $i, $(i-1)}
  /^BenchmarkDecide/ && !dec {dec=$3; printf "  policy decision, in-process      %10.1f us/op\n", $3/1e3}
  /^BenchmarkOPAEvalProcess/ {opa=$3; printf "  opa eval as a process            %10.1f us/op\n", $3/1e3}
  /^BenchmarkVerifyCandidate\/ferry-first/ {vf=$3} /^BenchmarkVerifyCandidate\/ferry-cached/ {vc=$3} /^BenchmarkVerifyCandidate\/cosign-verify/ {cv=$3}
  /CommitPush/ {printf "  %-40s %8.2f ms/op\n", $1, $3/1e6}
  /^BenchmarkJudgeQuality/ {for (i=1;i<=NF;i++) {if ($i=="intervals-to-detect") d=$(i-1); if ($i=="false-aborts/100") f=$(i-1)}; tgt = ($1 ~ /defaults/) ? "(the default tolerance 0.1: see the README)" : "(targets <= 2, 0)"; printf "  %-32s detects +5 pt errors in %s interval(s), %s false aborts /100 healthy %s\n", $1, d, f, tgt}
  END {
    if (vf > 0 && cv > 0) printf "  trust a candidate: ferry %6.2f ms first, %6.3f us once verified; cosign verify (process) %6.1f ms: %4.1fx\n", vf/1e6, vc/1e3, cv/1e6, cv/vf
    if (fs > 0 && ks > 0) printf "  overlay bump, small overlay:  ferry %8.3f ms, kustomize edit set image %8.1f ms: %5.0fx (target >= 10x)\n", fs/1e6, ks/1e6, ks/fs
    if (fl > 0 && kl > 0) printf "  overlay bump, 1,000 images:   ferry %8.3f ms, kustomize edit set image %8.1f ms: %5.0fx\n", fl/1e6, kl/1e6, kl/fl
  }
' "$out"
