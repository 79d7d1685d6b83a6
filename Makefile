# poolwatch: every routine task is one target here. `make test` is the whole test suite
# (the README's test command, and what .ci/run calls after installing the system packages).
GO       ?= go
BIN      := $(CURDIR)/bin
PROMTOOL ?= /usr/bin/promtool
# Tools come from the separate, pinned module in tools/ so that the project's own go.mod
# carries none of their dependencies. Building Prometheus 3's promtool takes ~15 min cold.
TOOLS    := $(BIN)/prometheus $(BIN)/promtool $(BIN)/jsonnet $(BIN)/staticcheck $(BIN)/benchstat
TOOL_PKGS := github.com/prometheus/prometheus/cmd/promtool \
	github.com/prometheus/prometheus/cmd/prometheus \
	github.com/google/go-jsonnet/cmd/jsonnet \
	honnef.co/go/tools/cmd/staticcheck \
	golang.org/x/perf/cmd/benchstat

.PHONY: all build test unit lint generate check-generated rules-test e2e bench tools clean

all: build test

build:
	$(GO) build ./...
	$(GO) build -o .build/ ./cmd/...

tools: $(BIN)/.stamp

$(BIN)/.stamp: tools/go.mod tools/go.sum
	$(GO) build -modfile=tools/go.mod -o $(BIN)/ $(TOOL_PKGS)
	touch $@

test: lint unit rules-test check-generated e2e

unit:
	$(GO) test -race -count=1 ./...

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
	PROMTOOL2=$(PROMTOOL) PROMTOOL3=$(BIN)/promtool ./mixin/test.sh

# The end-to-end run against Debian's Prometheus 2.42 and Prometheus 3 (bin/prometheus, native
# histograms scraped), one after the other, ~3 min each. E2E_TIMESCALE=1 runs the shipped
# windows in real time (about an hour per server; not for CI), E2E_PROMETHEUS=2 or 3 one only.
E2E_TIMESCALE  ?= 15
E2E_PROMETHEUS ?=
e2e: tools
	POOLWATCH_E2E=1 POOLWATCH_E2E_TIMESCALE=$(E2E_TIMESCALE) POOLWATCH_E2E_PROMETHEUS=$(E2E_PROMETHEUS) \
		$(GO) test -count=1 -v -timeout $$((30 * 15 / $(E2E_TIMESCALE)))m ./e2e/

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
