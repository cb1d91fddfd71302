# meshctl: build, test and demo. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
PKG := github.com/meshctl/meshctl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X $(PKG)/pkg/version.version=$(VERSION) -X $(PKG)/pkg/version.gitCommit=$(COMMIT) -X $(PKG)/pkg/version.buildDate=$(BUILD_DATE)

# The demo cluster keeps running after `make demo` (stop it with make cluster-down);
# the test cluster lives only for one `make test`.
CLUSTER_DIR ?= _out/cluster
TEST_CLUSTER_DIR ?= _out/test-cluster
# go test's own limit per package; e2e packages wait on real controllers.
TEST_TIMEOUT ?= 20m

.PHONY: help build test test-unit test-e2e bench bench-install bench-xds peer-istioctl demo cluster-build cluster-up cluster-down lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

# Static, as in the images: with cgo the binary is dynamically linked, and
# kustomize's Go plugin loader (package plugin) makes the linker export every
# symbol, so every command paid the dynamic loader's symbol lookups and ~7%
# more page faults (bench/RESULTS.txt, issue 16).
build: ## build bin/meshctl
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/meshctl ./cmd/meshctl

bin/localcluster: $(shell find internal/testcluster hack/cluster/localcluster -name '*.go')
	$(GO) build -o $@ ./hack/cluster/localcluster

cluster-build: ## build the local cluster's binaries once (first time ~15 min, then cached)
	bash hack/cluster/build.sh

cluster-up: cluster-build bin/localcluster ## start the local cluster in the background
	@./bin/localcluster up --dir $(CLUSTER_DIR)

cluster-down: bin/localcluster ## stop the local cluster (and the demo's meshctl server)
	@if [ -s $(CLUSTER_DIR)/meshctl-server.pid ]; then kill $$(cat $(CLUSTER_DIR)/meshctl-server.pid) 2>/dev/null || true; rm -f $(CLUSTER_DIR)/meshctl-server.pid; fi
	@./bin/localcluster down --dir $(CLUSTER_DIR)

# Where the machine allows it (root, unshare), tests run in a private network
# namespace in which pod IPs are routable to loopback, so tests can send real
# traffic to pods. Everything is compiled before entering it: it has no network.
NETNS_RUN ?= $(shell hack/cluster/netns-run.sh true 2>/dev/null && echo hack/cluster/netns-run.sh)

test: cluster-build bin/localcluster ## every test: unit and e2e on a fresh local cluster
	$(GO) test -tags e2e -count=1 -run '^$$' ./... >/dev/null
	$(NETNS_RUN) ./bin/localcluster run --dir $(TEST_CLUSTER_DIR) -- \
		$(GO) test -tags e2e -count=1 -timeout $(TEST_TIMEOUT) ./...

test-unit: ## unit tests only (no cluster)
	$(GO) test -count=1 ./...

test-e2e: test ## alias of test

bench: ## run every benchmark and record the figures in _out/bench.txt
	@mkdir -p _out
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count=1 ./... | tee _out/bench.txt

bench-install: cluster-build bin/localcluster ## install benchmarks (demo, no-op re-install, kubectl apply --server-side) on a throwaway cluster
	bash hack/cluster/build.sh kubectl
	$(GO) test -tags e2e -c -o _out/install-e2e.test ./test/e2e/install
	set -o pipefail; ./bin/localcluster run --dir $(TEST_CLUSTER_DIR) -- \
		_out/install-e2e.test -test.run '^$$' -test.bench BenchmarkInstallDemo -test.benchtime 3x | tee -a _out/bench.txt

bench-xds: cluster-build bin/localcluster ## xDS benchmark on a throwaway cluster: a VirtualService updated through the API server until an ADS client has the route
	$(GO) test -tags e2e -c -o _out/server-e2e.test ./pkg/server
	set -o pipefail; ./bin/localcluster run --dir $(TEST_CLUSTER_DIR) -- \
		_out/server-e2e.test -test.run '^$$' -test.bench BenchmarkLoneChangeThroughAPIServer -test.benchtime 20x | tee -a _out/bench.txt

# The peer the bench/ benchmarks compare with: istioctl of a pinned Istio
# commit, built from the module proxy in a throwaway module (hack/peer holds its
# go.mod). Not part of CI; `make bench` skips the peer when it is missing.
PEER_DIR ?= $(HOME)/.cache/meshctl/peer
peer-istioctl: ## build istioctl (the benchmarks' peer) into ~/.cache/meshctl/peer
	@mkdir -p $(PEER_DIR)
	set -e; d=$$(mktemp -d); trap 'rm -rf $$d' EXIT; cp hack/peer/istioctl.go.mod $$d/go.mod; \
	  cd $$d && GOFLAGS=-mod=mod $(GO) build -o $(PEER_DIR)/istioctl istio.io/istio/istioctl/cmd/istioctl
	cp hack/peer/istioctl.go.mod $(PEER_DIR)/istioctl.go.mod

demo: build cluster-up ## the main job end to end on the local cluster
	bash hack/cluster/build.sh kubectl
	KUBECONFIG=$(abspath $(CLUSTER_DIR))/kubeconfig PATH=$(abspath bin):$$PATH bash hack/demo.sh

lint: ## go vet, gofmt and go mod tidy checks
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@cp go.mod /tmp/meshctl-go.mod.bak; cp go.sum /tmp/meshctl-go.sum.bak; $(GO) mod tidy; \
	  if ! git diff --quiet go.mod go.sum; then echo "go mod tidy changes go.mod/go.sum"; git diff go.mod go.sum | head -40; \
	  cp /tmp/meshctl-go.mod.bak go.mod; cp /tmp/meshctl-go.sum.bak go.sum; exit 1; fi

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build outputs (not the cluster binary cache)
	-./bin/localcluster down --dir $(CLUSTER_DIR) 2>/dev/null
	rm -rf bin _out
