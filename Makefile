# tasktoken — `make demo` runs the demo, `make test` runs every test. Both install what they
# need (Rust targets and components, npm packages) on a fresh machine, idempotently.

CARGO ?= cargo
NPM ?= npm
RELEASE_CLI := target/release/tasktoken

.PHONY: build demo test vectors lint setup setup-rust setup-node clean

## build: the release CLI at target/release/tasktoken
build: setup-rust
	$(CARGO) build --release -p tasktoken-cli

## demo: key, mint, verify, and a tampered token refused
demo: build
	bash tests/demo/cli.sh

## test: formatting, lints, Rust tests and vectors, the wasm32 build, Node interop tests
test: setup build lint
	$(CARGO) test --workspace
	$(CARGO) build -p tasktoken --target wasm32-unknown-unknown --no-default-features
	$(CARGO) build -p tasktoken --target wasm32-unknown-unknown
	cd tests && TASKTOKEN_BIN=$(CURDIR)/$(RELEASE_CLI) node --test interop/

## lint: rustfmt and clippy, warnings are errors
lint: setup-rust
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## vectors: regenerate tests/vectors/*.json from the checked-in generator
vectors:
	REGENERATE_VECTORS=1 $(CARGO) test -p tasktoken --test vectors

setup: setup-rust setup-node

setup-rust:
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$$' \
		|| rustup target add wasm32-unknown-unknown

setup-node:
	@command -v node >/dev/null || { echo "node (20+) is required" >&2; exit 1; }
	cd tests && $(NPM) ci --no-audit --no-fund

clean:
	$(CARGO) clean
	rm -rf tests/node_modules
