# ferry: make help lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# kustomize imports Go's plugin package; without cgo the binary is half the size and links 4x faster.
export CGO_ENABLED ?= 0
# Go 1.26.10 fixes standard-library vulnerabilities (crypto/x509, crypto/tls, net/http) that
# govulncheck reports for the machine's 1.26.8; the go command fetches it from the module proxy.
export GOTOOLCHAIN := go1.26.10
FUZZTIME ?= 3s

.PHONY: help build test unit sim sim-smoke e2e e2e-setup demo bench lint fmt fuzz clean vulncheck

help: ## list targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/ferry
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry ./cmd/ferry

demo: build ## the whole story in-process (about 20 s): canary, abort, alert rollback, approval; prints the timeline
	$(BIN)/ferry demo

test: lint vulncheck e2e-setup unit sim-smoke fuzz-smoke e2e ## vet, govulncheck, unit tests with -race, the simulation, short fuzz runs, and the e2e suite against real servers

# Gitea is built once from the Go module proxy and cached outside the repo
# (e2e/gitea/build.sh prints its path last).
GITEA = $$(./e2e/gitea/build.sh | tail -n 1)
# kube-apiserver likewise (e2e/kube/build.sh: about 5 minutes once, then cached).
KUBE_APISERVER = $$(./e2e/kube/build.sh | tail -n 1)
# cosign likewise (e2e/cosign/build.sh: about 2.5 minutes once): the supply-chain
# tests sign and attest with the real CLI, as a user's CI would.
COSIGN = $$(./e2e/cosign/build.sh | tail -n 1)

unit: e2e-setup ## unit tests with the race detector
	FERRY_GITEA=$(GITEA) FERRY_KUBE_APISERVER=$(KUBE_APISERVER) CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# The deterministic simulation of the loop (agent/sim_test.go): as many
# seeded schedules as fit in a minute, at least 200; a failure prints the
# seed to replay with go test -run 'TestSim$$' ./agent/ -seed N.
sim-smoke:
	$(GO) test -v -run '^TestSim' -count=1 ./agent/ -sim.budget=60s -sim.min=200

SEEDS ?= 100000
sim: ## run the simulation for SEEDS schedules (default 100000)
	$(GO) test -run '^TestSim$$' -count=1 -timeout 0 ./agent/ -sim.seeds=$(SEEDS)

e2e-setup: ## install the real servers and tools e2e needs (idempotent): Debian packages, then Gitea, kube-apiserver and cosign
	./e2e/setup.sh
	./e2e/gitea/build.sh
	./e2e/kube/build.sh
	./e2e/cosign/build.sh

e2e: e2e-setup ## end-to-end tests against real servers (git, registry, Prometheus, Alertmanager, Gitea, kube-apiserver, Chromium)
	FERRY_GITEA=$(GITEA) FERRY_KUBE_APISERVER=$(KUBE_APISERVER) FERRY_COSIGN=$(COSIGN) $(GO) test -tags e2e -count=1 -timeout 30m ./e2e/...

# Each parser of outside input is fuzzed briefly; make fuzz runs them longer.
FUZZ_TARGETS := $(shell grep -rl --include='*_test.go' '^func Fuzz' . 2>/dev/null | xargs -r dirname | sort -u)
fuzz-smoke:
	@for pkg in $(FUZZ_TARGETS); do \
	  for f in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) >/tmp/ferry-fuzz.log 2>&1 || \
	    { ! grep -q 'Failing input' /tmp/ferry-fuzz.log && grep -q 'context deadline exceeded' /tmp/ferry-fuzz.log && \
	      echo "  the fuzz engine's deadline flake (no failing input); running it again" && \
	      $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) >/tmp/ferry-fuzz.log 2>&1; } || { cat /tmp/ferry-fuzz.log; exit 1; }; \
	  done; \
	done

fuzz: ## fuzz every parser for longer (FUZZTIME=1m)
	@$(MAKE) fuzz-smoke FUZZTIME=$(if $(filter 3s,$(FUZZTIME)),1m,$(FUZZTIME))

bench: ## benchmarks, side by side with peer tools (kustomize, git CLI)
	./e2e/bench.sh

lint: ## go vet and gofmt
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

vulncheck: ## govulncheck over ./..., offline, with a database built from golang.org/x/vulndb (module proxy)
	./e2e/vulncheck.sh

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build output
	rm -rf $(BIN)
