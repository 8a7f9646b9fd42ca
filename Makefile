# webhookd — see README.md. Every target works on a machine with nothing but
# Go (the embedded SQLite store); with the PostgreSQL 15 server binaries
# installed, the test targets also run the PostgreSQL suites.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
PKGS  := ./...
# make test runs every package but the fault suite, which has its own target.
TEST_PKGS = $$($(GO) list ./... | grep -v /test/faults)
# The race detector needs cgo (a C compiler); Go alone runs without it.
RACE = $$([ "$$($(GO) env CGO_ENABLED)" = 1 ] && echo -race || echo "make: no C compiler, so tests run without -race" >&2)

.PHONY: build run run-pg test test-short test-faults wire check-generated lint fmt clean
.PHONY: fuzz bench bench-micro postman

build: ## build bin/dispatcher and bin/mock-receiver
	$(GO) build -trimpath -o $(BIN)/dispatcher ./cmd/dispatcher
	$(GO) build -trimpath -o $(BIN)/mock-receiver ./cmd/mock-receiver

run: build ## dispatcher + mock receiver on SQLite (./data/webhookd.db), or on DATABASE_URL when set
	bash scripts/run-local.sh

run-pg: build ## the same on a throwaway PostgreSQL (deleted on exit)
	RUN_POSTGRES=1 bash scripts/run-local.sh

test: ## every test; the PostgreSQL ones too when PostgreSQL can be started (or TEST_DATABASE_URL is set)
	@interop=$$(bash scripts/interop-setup.sh || true); \
	export SIGNING_INTEROP_DIR=$${SIGNING_INTEROP_DIR:-$$interop}; \
	bash scripts/testdb.sh run -- $(GO) test $(RACE) -count=1 -timeout 20m $(TEST_PKGS)

postman: ## run the Postman collection (postman/) with newman against a fresh dispatcher; needs Node.js
	bash scripts/postman.sh

test-faults: ## the fault suite: real binaries under kill -9, DB restarts, SIGSTOP, chaos (a few minutes)
	WEBHOOKD_FAULTS=1 bash scripts/testdb.sh run -- $(GO) test -count=1 -p 1 -v -timeout 20m ./test/faults/

fuzz: ## run every fuzz target for FUZZTIME each (default 10s; see scripts/fuzz.sh)
	FUZZTIME=$(or $(FUZZTIME),10s) GO=$(GO) bash scripts/fuzz.sh

bench: build ## run the benchmarks (minutes; never part of make test)
	$(GO) run ./cmd/bench $(BENCH_ARGS)

bench-micro: ## go test -bench: signing, the API path, a claim and its completions on PostgreSQL
	bash scripts/testdb.sh run -- $(GO) test -run '^$$' -bench . -benchmem -count 3 ./core/signing ./adapters/httpapi ./adapters/postgres

test-short: ## unit tests only: -short skips everything that needs PostgreSQL or builds the binaries
	$(GO) test -count=1 -short $(PKGS)

wire: ## regenerate wiring/wire_gen.go
	$(GO) tool wire ./wiring

check-generated: ## fail if wiring/wire_gen.go is stale
	$(GO) tool wire diff ./wiring

lint: ## gofmt + go vet
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) logs
