# Authsec: `make run` builds and serves on ./authsec-data; `make test` runs every test.
export SWIFT_DETERMINISTIC_HASHING = 1

DATA ?= ./authsec-data
HTTP ?= 127.0.0.1:8080
WIRE ?= 127.0.0.1:7070

.PHONY: deps build release run test test-swift test-interop proto clean bench fuzz

deps:
	@bash scripts/install-deps.sh

build: deps
	swift build

release: deps
	swift build -c release --product authsec

run: release
	.build/release/authsec serve --data $(DATA) --http $(HTTP) --wire $(WIRE)

test: deps
	swift build --build-tests
	AUTHSEC_BIN=.build/debug/authsec bash Tests/Interop/c/run.sh
	AUTHSEC_BIN=.build/debug/authsec bash Tests/Interop/python/run.sh
	AUTHSEC_BIN=.build/debug/authsec bash Tests/Fuzz/run.sh
	@timeout -k 30 1800 swift test --skip-build; status=$$?; \
	if [ $$status -eq 124 ]; then echo "swift test ran over 30 minutes: a test hung" >&2; fi; exit $$status

test-swift: deps
	swift test

proto:
	bash scripts/generate-proto.sh

# Fuzz both doors and the CLI's client files from outside for FUZZ_SECONDS (default 600) against
# an already-built binary: .build/debug/authsec, or AUTHSEC_BIN. Builds nothing. See Tests/Fuzz/README.md.
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} AUTHSEC_BIN=$${AUTHSEC_BIN:-.build/debug/authsec} bash Tests/Fuzz/run.sh

clean:
	rm -rf .build Tests/Interop/build Tests/Interop/.venv Tests/Fuzz/.venv

bench:
	bash scripts/bench.sh
