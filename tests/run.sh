#!/usr/bin/env bash
# The whole test suite: README.md's test command, which .ci/run calls as it is.
#
# Needs only Rust: cargo-nextest (the runner; it keeps the end-to-end tests
# that share the real servers in one serial group, `.config/nextest.toml`) is
# installed with `cargo install` when it is missing, once. Doc tests run first
# (nextest does not run them), so that nextest's summary ends the output.
# Arguments go to nextest (`bash tests/run.sh --test ui`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "tests/run.sh: cargo-nextest is missing; installing it once (cargo install --locked cargo-nextest, a few minutes)" >&2
  cargo install --locked cargo-nextest
fi

if [ "$#" -eq 0 ]; then
  cargo test --workspace --doc
fi
cargo nextest run --workspace "$@"
