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

step "pipeline without the UI: cargo build/test --no-default-features"
cargo build --locked --no-default-features
cargo test --locked --no-default-features --lib
