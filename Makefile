# tbctl: `make demo` and `make test` install what is missing first (as root on
# Debian/Ubuntu) and then do their job. See README.md.

GO      := scripts/go.sh
BIN     := bin/tbctl
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build deps deps-test deps-bench containerlab tofu node-image demo demo-lab test lint bench clean

all: build

deps:
	scripts/install-deps.sh build run

deps-test:
	scripts/install-deps.sh build run test

deps-bench:
	scripts/install-deps.sh build run bench

# A static binary: the same file runs on the host, in containers and on
# remote hosts.
build: deps
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/tbctl

# The containerlab provider: the pinned containerlab (tools/containerlab) and
# tbctl's own node image, built locally (no registry needed).
containerlab:
	scripts/install-containerlab.sh

tofu:
	scripts/install-tofu.sh

node-image: build
	$(BIN) node image

# The main job: the quickstart experiment on the netns provider.
demo: build
	$(BIN) run experiments/quickstart.yaml

# The lab alone: deploy a sample topology, ping across it, inspect, destroy.
demo-lab: build
	scripts/demo.sh $(BIN)

lint: deps
	@out=$$(gofmt -l cmd testbed roles collectors bench 2>/dev/null); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Unit tests run anywhere; integration tests (root, namespaces) run for real
# as root and say why they skip otherwise. TBCTL_BIN lets them drive the CLI.
# The integration tests run after the unit tests, not beside them: several
# judge timing (a diagnosis's false alarms, a probe's tail delay) and must
# not share two cores with CPU-bound unit tests.
test: deps-test containerlab tofu build lint
	$(GO) test -count=1 -timeout 10m $$($(GO) list ./... | grep -v /testbed/integration)
	TBCTL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m ./testbed/integration/

bench: build deps-bench containerlab
	bench/deploy-vs-mininet.sh
	bench/traffic-vs-iperf3.sh
	bench/role-start.sh
	bench/linkem-vs-veth.sh
	bench/collect-overhead.sh
	bench/clab-deploy.sh
	bench/mycroft-busbw.sh
	bench/mycroft-trace-overhead.sh
	bench/mycroft-recv-lowat.sh
	bench/remote-deploy.sh

clean:
	rm -rf bin
