#!/usr/bin/env bash
# The one command that runs every check: formatting, lints, all tests, the UI-less build.
# `.ci/run` calls exactly this. It installs what the tests need on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "prerequisites"
scripts/ci-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (all tests)"
cargo test --locked --all-targets

# The library and the binary build and pass their unit tests without the UI crates. (A plain
# `cargo build --no-default-features` would rebuild most dependencies a third time, without the
# dev-dependencies' features, for ~8 minutes of CI on 2 cores; this reuses the test build's.)
step "pipeline without the UI: cargo test --no-default-features --lib --bins"
cargo test --locked --no-default-features --lib --bins
