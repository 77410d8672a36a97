# The two commands (see README.md):
#   make run    build Chorus in release mode and start it on http://127.0.0.1:3000
#   make test   run every test: unit, integration and browser
#
# Both install what is missing first (scripts/setup.sh, idempotent). Build output
# goes to $(CARGO_TARGET_DIR), outside the checkout, so rebuilds are incremental.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/chorus/target
ADDR ?= 127.0.0.1:3000
DATA_DIR ?= ./data

.PHONY: run build test lint bench clean-site

run: build
	scripts/fetch-model.sh $(DATA_DIR) >/dev/null
	scripts/build-rootfs.sh >/dev/null
	$(CARGO_TARGET_DIR)/release/chorus serve --addr $(ADDR) --data-dir $(DATA_DIR)

build:
	scripts/setup.sh
	scripts/build-release.sh

test:
	scripts/test.sh

lint:
	scripts/setup.sh
	cargo fmt --all -- --check
	RUSTFLAGS="--cfg erase_components" cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

bench: build
	scripts/bench.sh
