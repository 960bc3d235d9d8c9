# tasktoken — `make demo` runs the demo, `make test` runs every test. Both install what they
# need (Rust targets and components, npm packages) on a fresh machine, idempotently.

CARGO ?= cargo
NPM ?= npm
RELEASE_CLI := target/release/tasktoken
# The wasm-bindgen CLI must be exactly the version of the crate in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/[^0-9.]/, ""); print}' Cargo.lock)
WASM_IN := target/wasm32-unknown-unknown/wasm/tasktoken_wasm.wasm
# The two modules (docs/wasm.md): `verify` is all `tasktoken/verify` loads, `tasktoken`
# adds `mint`. One crate, built once per feature.
WASM_MODULES := verify mint
# Exactly the features rustc enables by default for wasm32-unknown-unknown.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-mutable-globals --enable-sign-ext \
	--enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue

.PHONY: build wasm demo test test-js vectors lint msrv msrv-core setup setup-rust setup-node \
	setup-eslint setup-wasm setup-chromium setup-wrk size load demo-exports bench clean js

## build: the release CLI at target/release/tasktoken, the wasm core and the npm package in js/
build: setup-rust wasm
	$(CARGO) build --release -p tasktoken-cli

## wasm: the size-optimised core in js/wasm/ (cargo → wasm-bindgen → wasm-opt)
wasm: setup-wasm
	@set -e; for m in $(WASM_MODULES); do \
		$(CARGO) build -p tasktoken-wasm --target wasm32-unknown-unknown --profile wasm \
			--no-default-features --features $$m; \
		wasm-bindgen --target web --no-typescript --out-dir js/wasm/$$m --out-name tasktoken $(WASM_IN); \
		out=js/wasm/$$m/tasktoken_bg.wasm; \
		js/node_modules/.bin/wasm-opt -Os --strip-producers --strip-target-features \
			$(WASM_OPT_FEATURES) $$out -o $$out; \
		echo "wasm $$m: $$(wc -c < $$out) bytes, $$(gzip -9c $$out | wc -c) gzip"; \
	done
	$(MAKE) js

## js: the package's entries bundled per runtime (js/dist-*/, from js/load/ and js/src/ and
## the glue in js/wasm/; js/scripts/bundle.mjs says why). Run it after editing js/src/.
js:
	cd js && node scripts/bundle.mjs

## demo-exports: the signed export links page at http://127.0.0.1:8790/ (Ctrl-C to stop)
demo-exports: setup-node build
	cd tests && node demo/exports-server.mjs

## load: requests/s and latency through a gated vs an ungated route (docs/gateway.md)
load: setup-node build
	cd tests && node gateway/load.mjs

## bench: the token service against a jose reference (exchanges/s, p50/p99 at 16 clients,
## wrk); tasktoken vs jose, Node's crypto, WebCrypto, noble, fast-jwt, Biscuit (one process),
## the native core, and wasm start-up; writes target/bench/results.json and service.json
bench: setup-node setup-wrk build
	cd tests && node bench/service.mjs
	cd js && node --experimental-wasm-modules bench/verify.mjs 2>&1 | grep -v "biscuit-wasm loading\|ExperimentalWarning\|trace-warnings"
	cd js && node bench/startup.mjs
	$(CARGO) bench -p tasktoken --bench verify

## size: the wasm's raw/gzip/brotli size and start-up time in Node
size: wasm
	cd js && node bench/startup.mjs

## demo: the edge gateway story (wrangler dev), then the command-line story
demo: setup-rust setup-node build
	cd tests && node demo/gateway.mjs
	bash tests/demo/cli.sh

## test: lints, Rust tests and vectors (the stores and `tasktoken serve` also on a throwaway
## PostgreSQL cluster, tests/with-postgres.sh), the npm package (Node, types, packaging), jose
## interop, the package in real workerd (wrangler dev) and headless Chromium, and the
## edge gateway end to end
test: setup build lint
	bash tests/with-postgres.sh $(CARGO) test --workspace
	$(CARGO) build -p tasktoken --target wasm32-unknown-unknown --no-default-features
	$(CARGO) build -p tasktoken --target wasm32-unknown-unknown
	$(MAKE) test-js
	cd tests && TASKTOKEN_BIN=$(CURDIR)/$(RELEASE_CLI) node --test interop/ runtime/ gateway/

## test-js: the npm package's tests (Node's test runner), its types and its packaging
test-js: js
	cd js && node --test test/
	cd js && node_modules/.bin/tsc -p test/types/tsconfig.json
	cd js && node_modules/.bin/publint --strict

## lint: rustfmt, clippy, rustdoc and ESLint (every JS file: js/eslint.config.js), warnings
## are errors; the core built with its rust-version (msrv-core)
lint: setup-rust setup-eslint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
	js/node_modules/.bin/eslint -c js/eslint.config.js js tests fuzz/seed.mjs
	$(MAKE) msrv-core

# The oldest Rust each part builds with (`rust-version`, CONTRIBUTING.md): the core's own, and
# the workspace's (the command line and the service). Checked with rustup's toolchain of that
# version (minimal profile, installed once) in a target directory of its own.
MSRV_CORE := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' crates/tasktoken/Cargo.toml)
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)

## msrv-core: the core, with and without std, with its rust-version (about a minute when new)
msrv-core:
	@rustup toolchain list | grep -q '^$(MSRV_CORE)-' || rustup toolchain install $(MSRV_CORE) --profile minimal
	CARGO_TARGET_DIR=target/msrv $(CARGO) +$(MSRV_CORE) check --locked -p tasktoken
	CARGO_TARGET_DIR=target/msrv $(CARGO) +$(MSRV_CORE) check --locked -p tasktoken --no-default-features

## msrv: msrv-core, then every crate with the workspace's rust-version (several minutes on a
## fresh machine: the service's dependencies; not part of `make test`)
msrv: msrv-core
	@rustup toolchain list | grep -q '^$(MSRV)-' || rustup toolchain install $(MSRV) --profile minimal
	CARGO_TARGET_DIR=target/msrv $(CARGO) +$(MSRV) check --locked --workspace

## vectors: regenerate tests/vectors/*.json from the checked-in generator
vectors:
	REGENERATE_VECTORS=1 $(CARGO) test -p tasktoken --test vectors vectors_match_their_generator

setup: setup-rust setup-node setup-wasm setup-chromium

setup-rust:
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$$' \
		|| rustup target add wasm32-unknown-unknown

setup-node:
	@command -v node >/dev/null || { echo "node (20+) is required" >&2; exit 1; }
	cd tests && $(NPM) ci --no-audit --no-fund
	cd js && $(NPM) ci --no-audit --no-fund

# ESLint is a devDependency of the package (js/package.json): installed with it, once.
setup-eslint:
	@command -v node >/dev/null || { echo "node (20+) is required" >&2; exit 1; }
	@test -x js/node_modules/.bin/eslint || (cd js && $(NPM) ci --no-audit --no-fund)

# Debian's wrk for the token service's load (a C load generator, so it takes little CPU).
setup-wrk:
	@command -v wrk >/dev/null || { apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

# Debian's Chromium for the browser tests (playwright-core drives it; no browser download).
setup-chromium:
	@command -v chromium >/dev/null || { apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# `--locked` fails on this registry (a pinned dependency of the CLI is missing): install without.
setup-wasm: setup-rust
	@test -x js/node_modules/.bin/wasm-opt || (cd js && $(NPM) ci --no-audit --no-fund)
	@wasm-bindgen --version 2>/dev/null | grep -qx 'wasm-bindgen $(WASM_BINDGEN_VERSION)' \
		|| $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

clean:
	$(CARGO) clean
	rm -rf tests/node_modules js/node_modules js/wasm

## fuzz: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (nightly; seeded from
## tests/vectors/ by fuzz/seed.mjs). Not part of `make test`. A finding stops the run and is
## saved in fuzz/artifacts/<target>/; replay it with `cd fuzz && cargo +nightly fuzz run
## <target> artifacts/<target>/<file>`.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := token claims jwk revocation resource prepared proof chain

.PHONY: fuzz
fuzz:
	@command -v node >/dev/null || { echo "node (20+) is required" >&2; exit 1; }
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz
	node fuzz/seed.mjs
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
		cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) -jobs=1 \
			-timeout=10 $$(test -f dicts/$$target.dict && echo -dict=dicts/$$target.dict) \
			-print_final_stats=1 || exit 1; \
	done
