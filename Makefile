GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS = -X main.version=$(VERSION)

# Where make run serves the Prometheus metrics (SHIPHOOK_METRICS_ADDR, if
# set, wins).
METRICS_ADDR ?= 127.0.0.1:9464

# Extra flags for go test, e.g. make test TESTFLAGS='-run TestDeliver -v'.
TESTFLAGS ?=
# The race detector needs cgo and a C compiler; make test RACE= runs without it.
RACE ?= -race
# How long make fuzz (and so make test) runs each fuzz target.
FUZZTIME ?= 10s
# The fuzz targets, each as package:target; go test -fuzz takes one at a time.
FUZZ = ./dispatcher:FuzzParseEvent ./subscriptions:FuzzNormalizeData ./subscriptions:FuzzFilter ./api:FuzzCursor ./signing:FuzzVerify ./sources:FuzzTranslateDCSA ./sources:FuzzMappedTranslate
# Extra flags for the benchmark tool, e.g. make bench BENCHFLAGS=-quick;
# bin/shiphook-bench -h lists them.
BENCHFLAGS ?=
# Where make bench writes its report, besides printing it.
BENCHOUT ?= bin/benchmarks.md
# The Go benchmarks of the hot pieces that make bench runs and reports.
GOBENCH = test -run '^$$' -bench 'Sign|Payload|ParseEvent|Match100k|ValidateData|ResolveReference|MappedTranslate' -benchmem \
	$(if $(findstring -quick,$(BENCHFLAGS)),-benchtime 200ms) ./signing ./dispatcher ./subscriptions ./store ./sources

# The fault suite's form: long (make chaos) or short (make chaos
# CHAOS=short, as make test runs it); CHAOSFLAGS adds flags of
# bin/shiphook-chaos -h.
CHAOS ?= long
CHAOSFLAGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this list of targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/shiphook, stamped with the version from git describe
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/shiphook ./cmd/shiphook

.PHONY: run
run: build ## Run shiphook serve on the embedded defaults, with a saved admin key and encryption key, and metrics on METRICS_ADDR
	@mkdir -p shiphook-data
	@if [ ! -s shiphook-data/admin.key ]; then \
		(umask 077 && ./bin/shiphook gen-key > shiphook-data/admin.key.new) && \
		mv shiphook-data/admin.key.new shiphook-data/admin.key || \
		{ rm -f shiphook-data/admin.key.new; exit 1; }; \
	fi
	@if [ -z "$$SHIPHOOK_ENCRYPTION_KEY" ] && [ ! -s shiphook-data/encryption.key ]; then \
		(umask 077 && ./bin/shiphook gen-encryption-key > shiphook-data/encryption.key.new) && \
		mv shiphook-data/encryption.key.new shiphook-data/encryption.key || \
		{ rm -f shiphook-data/encryption.key.new; exit 1; }; \
	fi
	@chmod 600 shiphook-data/admin.key
	@key=$$(cat shiphook-data/admin.key) && \
		echo "Admin key: $$key" && \
		echo 'To use it from another shell: export SHIPHOOK_KEY=$$(cat shiphook-data/admin.key)' && \
		SHIPHOOK_ADMIN_KEY=$$key && export SHIPHOOK_ADMIN_KEY && \
		SHIPHOOK_ENCRYPTION_KEY=$${SHIPHOOK_ENCRYPTION_KEY:-$$(cat shiphook-data/encryption.key)} && \
		export SHIPHOOK_ENCRYPTION_KEY && \
		SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS=$${SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS:-loopback} && \
		export SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS && \
		SHIPHOOK_METRICS_ADDR=$${SHIPHOOK_METRICS_ADDR:-$(METRICS_ADDR)} && export SHIPHOOK_METRICS_ADDR && \
		echo "Prometheus metrics: http://$$SHIPHOOK_METRICS_ADDR/metrics" && \
		exec ./bin/shiphook serve

.PHONY: test
test: vet fmt-check build-all helm-check cc-check chromium-check node-check fuzz ## Vet, check formatting, compile everything, check the Helm chart, fuzz, run every test against real PostgreSQL, Redis, Chromium and Node.js, then the fault suite's short form
	bash deploy/dev/test-services.sh $(GO) test $(RACE) -count=1 -timeout 30m $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory chaos CHAOS=short

# helm-check renders the chart in deploy/helm/shiphook with Helm's own
# engine, asserts on the objects, runs helm lint, and parses
# deploy/compose.yaml. It is a Go module of its own (deploy/helm/go.mod),
# so that Helm's Kubernetes dependencies stay out of shiphook's; the first
# run downloads and builds them (a few minutes).
.PHONY: helm-check
helm-check: ## Render and lint the Helm chart and parse the compose file (deploy/helm, a module of its own)
	cd deploy/helm && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: chaos
chaos: build ## Run the fault suite: kill workers, flush and restart Redis, restart PostgreSQL, break endpoints (about 6 min; CHAOS=short: about 2)
	$(GO) build -o bin/shiphook-chaos ./cmd/shiphook-chaos
	bash deploy/dev/test-services.sh --binaries ./bin/shiphook-chaos -shiphook bin/shiphook \
		$(if $(filter short,$(CHAOS)),-short,$(if $(filter long,$(CHAOS)),,$(error CHAOS must be long or short))) $(CHAOSFLAGS)

.PHONY: fuzz
# A failing input is written to <package>/testdata/fuzz/<target>/. Go 1.26's
# fuzzing engine may also end a run with "context deadline exceeded" just
# as FUZZTIME runs out, writing nothing (go.dev/issue/75804, fixed in Go
# 1.27): that is reported, and not counted as a failure of the target.
fuzz: ## Run each fuzz target for FUZZTIME (default 10s)
	@for target in $(FUZZ); do \
		pkg=$${target%%:*}; name=$${target#*:}; found=$$pkg/testdata/fuzz/$$name; \
		echo "Fuzzing $$name in $$pkg for $(FUZZTIME)"; \
		before=$$(ls $$found 2>/dev/null | wc -l); log=$$(mktemp); \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg > $$log 2>&1; status=$$?; \
		cat $$log; after=$$(ls $$found 2>/dev/null | wc -l); \
		if [ $$status -ne 0 ] && [ "$$after" = "$$before" ] && tail -n 6 $$log | grep -q '^    context deadline exceeded$$'; then \
			echo "make fuzz: $$name found nothing; Go's fuzzing engine stopped with its own deadline error at the end of $(FUZZTIME) (go.dev/issue/75804)"; \
			status=0; \
		fi; \
		rm -f $$log; [ $$status -eq 0 ] || exit 1; \
	done

.PHONY: test-short
test-short: chromium-check node-check ## Run the tests in -short mode, without the race detector
	bash deploy/dev/test-services.sh $(GO) test -short -count=1 $(TESTFLAGS) ./...

.PHONY: vet
vet: ## Run go vet
	$(GO) vet ./...

.PHONY: build-all
build-all: ## Compile every package and command, the benchmark tool included
	$(GO) build ./...

.PHONY: bench
bench: build ## Run the end-to-end benchmarks and the Go benchmarks; print a markdown report (BENCHFLAGS=-quick: about a minute)
	$(GO) build -o bin/shiphook-bench ./cmd/shiphook-bench
	@echo "Go benchmarks: signing, payload, event parsing, matching, data validation, reference resolution at 1,000,000 shipments, mapping" >&2
	@$(GO) $(GOBENCH) > bin/gobench.txt 2>&1; \
		status=$$?; cat bin/gobench.txt >&2; exit $$status
	./bin/shiphook-bench -shiphook bin/shiphook -gobench bin/gobench.txt -gobench-cmd "go $(strip $(GOBENCH))" \
		-out $(BENCHOUT) $(BENCHFLAGS)

.PHONY: idle-cpu
idle-cpu: build ## Measure the CPU shiphook uses while idle: serve embedded, serve on PostgreSQL and Redis, api + worker (a minute each)
	bash deploy/dev/test-services.sh bash deploy/dev/idle-cpu.sh bin/shiphook

.PHONY: fmt
fmt: ## Format every Go file with gofmt
	$(GOFMT) -l -w .

.PHONY: fmt-check
fmt-check: ## Fail, listing the files, if any Go file is not gofmt-formatted
	@files=$$($(GOFMT) -l .) && if [ -n "$$files" ]; then \
		echo "These files need gofmt (run make fmt):"; echo "$$files"; exit 1; \
	fi

# cc-check makes sure the race detector can build: it needs a C compiler.
# As root on Debian it installs gcc; elsewhere it says what is missing.
.PHONY: cc-check
cc-check:
	@if [ -n "$(RACE)" ] && ! command -v "$$($(GO) env CC)" >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing gcc for the race detector"; \
			log=$$(mktemp) && \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends gcc libc6-dev; } >"$$log" 2>&1 || \
				{ cat "$$log"; rm -f "$$log"; exit 1; }; \
			rm -f "$$log"; \
		else \
			echo "The race detector needs a C compiler: install gcc, or run make test RACE="; exit 1; \
		fi; \
	fi

# chromium-check makes sure the console's browser tests can start Chromium
# (chromium on the PATH, or SHIPHOOK_TEST_CHROMIUM naming one). As root on
# Debian it installs chromium; elsewhere it says what is missing.
.PHONY: chromium-check
chromium-check:
	@if [ -z "$$SHIPHOOK_TEST_CHROMIUM" ] && ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing chromium for the console's browser tests"; \
			log=$$(mktemp) && \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } >"$$log" 2>&1 || \
				{ cat "$$log"; rm -f "$$log"; exit 1; }; \
			rm -f "$$log"; \
		else \
			echo "The console's browser tests need Chromium: install it (Debian: apt-get install chromium), or set SHIPHOOK_TEST_CHROMIUM to a Chromium binary"; exit 1; \
		fi; \
	fi

# node-check makes sure the end-to-end test of v1a signatures can run
# Node.js, whose own crypto module verifies a real delivery. As root on
# Debian it installs nodejs; elsewhere it says what is missing.
.PHONY: node-check
node-check:
	@if ! command -v node >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing nodejs for the v1a signature test"; \
			log=$$(mktemp) && \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends nodejs; } >"$$log" 2>&1 || \
				{ cat "$$log"; rm -f "$$log"; exit 1; }; \
			rm -f "$$log"; \
		else \
			echo "The v1a signature test needs Node.js 18 or later: install it (Debian: apt-get install nodejs)"; exit 1; \
		fi; \
	fi

.PHONY: migrate
migrate: build ## Apply the database migrations (DATABASE_URL, or the embedded SQLite)
	./bin/shiphook migrate

.PHONY: docker
docker: ## Build the shiphook container image
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t shiphook .

.PHONY: clean
clean: ## Remove build output (keeps shiphook-data)
	rm -rf bin
