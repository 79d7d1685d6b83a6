# poolwatch: every routine task is one target here. `make test` is the whole test suite
# (the README's test command, and what .ci/run calls after installing the system packages).
GO       ?= go
BIN      := $(CURDIR)/bin
PROMTOOL ?= /usr/bin/promtool
# Test reports (go test -json, one file per step) for the summary at the end of `make test`.
REPORT   := $(CURDIR)/.build/test
# Tools come from the separate, pinned module in tools/ so that the project's own go.mod
# carries none of their dependencies. Building Prometheus 3's promtool takes ~15 min cold.
TOOLS    := $(BIN)/prometheus $(BIN)/promtool $(BIN)/jsonnet $(BIN)/staticcheck $(BIN)/benchstat
TOOL_PKGS := github.com/prometheus/prometheus/cmd/promtool \
	github.com/prometheus/prometheus/cmd/prometheus \
	github.com/google/go-jsonnet/cmd/jsonnet \
	honnef.co/go/tools/cmd/staticcheck \
	golang.org/x/perf/cmd/benchstat

# Recipes run under bash with pipefail, so that `go test -json | testreport` fails when
# either side does.
SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c

# Version information for the binaries (github.com/prometheus/common/version), as the
# Prometheus projects stamp theirs. A build without these flags fills them from Go's own
# build information (internal/buildinfo).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILDUSER ?= $(shell echo "$$(id -un)@$$(hostname)")
BUILDDATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILDUSER) \
	-X $(VERSION_PKG).BuildDate=$(BUILDDATE)
# Prometheus v3.X.Y is the Go module version v0.3XX.Y: promtool 3 then reports its version.
PROM_VERSION = $(shell $(GO) list -modfile=tools/go.mod -m -f '{{.Version}}' github.com/prometheus/prometheus | \
	awk -F. '{ printf "%d.%d.%s", substr($$2, 1, 1), substr($$2, 2) + 0, $$3 }')

.PHONY: all build deps test unit lint generate check-generated rules-test e2e bench tools docker clean

all: build test

build:
	$(GO) build ./...
	$(GO) build -ldflags '$(LDFLAGS)' -o .build/ ./cmd/...

# The system packages the tests use (the list is in .ci/install-deps). Missing ones are
# installed when running as root; otherwise this stops at once with the command to run.
deps:
	@if ! ./.ci/install-deps --check; then \
		if [ "$$(id -u)" = 0 ]; then ./.ci/install-deps; \
		else echo "make: system packages missing; install them, then run make test again:"; \
			echo "    sudo $(CURDIR)/.ci/install-deps"; exit 1; fi; \
	fi

tools: $(BIN)/.stamp

$(BIN)/.stamp: tools/go.mod tools/go.sum
	$(GO) build -modfile=tools/go.mod -ldflags '-X $(VERSION_PKG).Version=$(PROM_VERSION)' -o $(BIN)/ $(TOOL_PKGS)
	touch $@

# Every step runs even when one before it failed, so that one run shows everything; the
# summary at the end lists every skipped test with its reason and ends with the line
# `N passed, N failed, N skipped`: Go tests (and subtests) one by one, the other steps
# (lint, rules-test, check-generated) as one each, and unit or e2e once more if its run
# failed.
STEPS := lint unit rules-test check-generated e2e
test: deps tools
	@rm -rf $(REPORT) && mkdir -p $(REPORT)
	@for step in $(STEPS); do \
		echo; echo "=== make $$step"; \
		if $(MAKE) --no-print-directory $$step; then status=ok; else status=FAIL; fi; \
		case $$step in unit|e2e) [ $$status = ok ] || echo "$$step $$status" >$(REPORT)/$$step.step ;; \
		*) echo "$$step $$status" >$(REPORT)/$$step.step ;; esac; \
	done; \
	$(GO) run ./internal/testreport summary $(REPORT)

unit:
	@mkdir -p $(REPORT)
	$(GO) test -json -race -count=1 ./... | $(GO) run ./internal/testreport stream $(REPORT)/unit.json

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

generate: tools
	./mixin/generate.sh

# Renders into the work tree and fails if that changed anything: the committed alerts/,
# dashboards/ and deploy/ must be exactly what `make generate` writes.
check-generated: generate
	@drift=$$(git status --porcelain -- alerts dashboards deploy); \
	if [ -n "$$drift" ]; then echo "$$drift"; git --no-pager diff --stat -- alerts dashboards deploy; \
	echo "generated files drifted from mixin/: run 'make generate' and commit"; exit 1; fi

rules-test: tools
	PROMTOOL2=$(PROMTOOL) PROMTOOL3=$(BIN)/promtool JSONNET=$(BIN)/jsonnet ./mixin/test.sh

# The end-to-end run against Debian's Prometheus 2.42 and Prometheus 3 (bin/prometheus, native
# histograms scraped), one after the other, ~3 min each. E2E_TIMESCALE=1 runs the shipped
# windows in real time (about half an hour per server; not for CI), E2E_PROMETHEUS=2 or 3 one only.
E2E_TIMESCALE  ?= 15
E2E_PROMETHEUS ?=
e2e: tools
	@mkdir -p $(REPORT)
	POOLWATCH_E2E=1 POOLWATCH_E2E_TIMESCALE=$(E2E_TIMESCALE) POOLWATCH_E2E_PROMETHEUS=$(E2E_PROMETHEUS) \
		$(GO) test -json -count=1 -timeout $$((30 * 15 / $(E2E_TIMESCALE)))m ./e2e/ | \
		$(GO) run ./internal/testreport stream -v $(REPORT)/e2e.json

# The exporter's image, stamped with this checkout's version information.
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		--build-arg BRANCH=$(BRANCH) --build-arg BUILD_DATE=$(BUILDDATE) -t poolwatch_exporter .

# Six rounds of every benchmark, one after the other, rather than six runs of one benchmark in
# a row: on a machine whose load varies, each round's rows then see the same conditions, so
# the differences between rows (the instrumentation's cost) hold even when absolute figures
# move. benchstat prints the medians; benchcost.awk the added cost per task, from the same run.
bench: tools
	$(GO) test -c -o .build/collector.test ./collector/
	rm -f bench.txt
	for round in 1 2 3 4 5 6; do \
		(cd collector && ../.build/collector.test -test.run '^$$' -test.bench . -test.benchmem -test.timeout 30m) \
			> .build/bench-round.txt || { cat .build/bench-round.txt; exit 1; }; \
		echo "round $$round of 6"; cat .build/bench-round.txt >> bench.txt; \
	done
	$(BIN)/benchstat bench.txt
	@awk -f collector/testdata/benchcost.awk bench.txt

clean:
	rm -rf .build bench.txt
