# anpr: `make run` starts everything on this machine; `make test` is what CI runs.
GO        ?= go
BIN       := bin/anpr
PKGS      := ./...
FUZZTIME  ?= 30s
BENCHTIME ?= 1s

.PHONY: run build test test-short bench bench-e2e bench-baseline crash outage overload fuzz lint clean

run: build ## embedded broker + sample network + simulated traffic + API on :8080
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/anpr

test: ## everything, race detector on (CI)
	$(GO) test -race -timeout 14m $(PKGS)

test-short: ## quick loop: no race detector, long tests skipped
	$(GO) test -short $(PKGS)

bench: ## Go benchmarks of the hot paths (figures in README)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./plate/ ./matcher/ ./internal/store/ ./engine/

bench-e2e: build ## the whole pipeline on realistic traffic: saturation, then latency at 50 k reads/s
	./$(BIN) bench e2e --reads 1000000
	./$(BIN) bench e2e --reads 1000000 --rate 50000

bench-baseline: ## against Redis + PostgreSQL (naive, tuned) on the same reads; installs them if missing
	bash bench/baseline/run.sh

crash: ## SIGKILL the engine 50 times while it works; nothing lost, nothing doubled
	ANPR_CRASH_KILLS=50 ANPR_CRASH_READS=200000 $(GO) test -run '^TestCrash$$' -timeout 60m -v ./cmd/anpr/

outage: ## stop the broker for 30 s in mid-stream; the engine stays up, nothing lost or doubled
	ANPR_OUTAGE=30s ANPR_OUTAGE_READS=200000 $(GO) test -run '^TestBrokerOutage$$' -timeout 30m -v ./cmd/anpr/

overload: ## a backlog of a million reads before a slowed engine: the live heap stays flat
	ANPR_OVERLOAD_READS=1000000 $(GO) test -run '^TestOverloadMemory$$' -timeout 30m -v ./engine/

fuzz: ## each fuzz target for FUZZTIME
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./plate/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./plate/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzReadCSV$$' -fuzztime $(FUZZTIME) ./matcher/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./hotlist/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEntry$$' -fuzztime $(FUZZTIME) ./hotlist/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/audit/
	$(GO) test -run '^$$' -fuzz '^FuzzSearchCursor$$' -fuzztime $(FUZZTIME) ./internal/store/
	$(GO) test -run '^$$' -fuzz '^FuzzCameraBlock$$' -fuzztime $(FUZZTIME) ./internal/store/
	$(GO) test -run '^$$' -fuzz '^FuzzPattern$$' -fuzztime $(FUZZTIME) ./internal/store/
	$(GO) test -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME) ./internal/api/

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

clean:
	rm -rf bin data
