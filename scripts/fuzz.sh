#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a fixed budget (FUZZ_SECONDS each, default 20), seeded
# from the in-repository corpus. A crash (panic, abort, out-of-memory, timeout) fails the run
# and leaves the input in fuzz/artifacts/TARGET/ to reproduce with
#   fuzz/target/$HOST/release/TARGET fuzz/artifacts/TARGET/crash-…
# Needs the nightly toolchain (`rustup toolchain install nightly`); without it says so and
# stops with status 0, as the issue asks ("when the nightly toolchain is present"); CI has it.
#
# This is what `cargo +nightly fuzz run TARGET` does, without installing cargo-fuzz and
# without AddressSanitizer (the crate forbids unsafe code: a panic is the bug to find, and
# skipping ASan halves the instrumented build). Developers with cargo-fuzz can use it as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly): fuzz targets not run"
  exit 0
fi
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros (as cargo-fuzz does).
cargo +nightly build --locked --release --manifest-path fuzz/Cargo.toml --target "$host" --bins

# Seeds: real inputs of each kind (copied, so libFuzzer may add to fuzz/corpus/TARGET freely).
seed() { # target, then files or directories
  local t=$1; shift
  mkdir -p "fuzz/corpus/$t"
  find "$@" -type f -size -256k ! -name '*.md' -exec cp -n {} "fuzz/corpus/$t/" \; 2>/dev/null || true
}
events=(tests/corpus/cloudtrail tests/corpus/gcpaudit assets/demo/events.jsonl tests/golden)
seed documents "${events[@]}"
seed replay_engine "${events[@]}"
seed pubsub_message tests/corpus/gcpaudit
seed s3_log_object tests/corpus/cloudtrail/invictus-ir__aws_dataset tests/corpus/cloudtrail/flosell__trailscraper
seed sqs_body tests/corpus/cloudtrail/cloud-custodian__cloud-custodian
seed state_parse tests/corpus/tfstate assets/demo/terraform.tfstate
seed config_parse config/tfdrift.yaml config/embedded.yaml
seed rules_parse rules tests/fixtures/rules
seed plan_json tests/reconcile/seeds
mkdir -p fuzz/corpus/falco_grpc_response

failed=()
for t in documents replay_engine s3_log_object state_parse config_parse sqs_body pubsub_message falco_grpc_response rules_parse plan_json; do
  mkdir -p "fuzz/artifacts/$t"
  echo "==> fuzz $t (${seconds} s)"
  if ! "fuzz/target/$host/release/$t" "fuzz/corpus/$t" -max_total_time="$seconds" \
      -max_len=262144 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$t/" 2> "fuzz/artifacts/$t.log"; then
    tail -n 40 "fuzz/artifacts/$t.log"
    failed+=("$t")
  else
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "fuzz/artifacts/$t.log" | tr '\n' ' '
    echo
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${seconds} s per target, no crash"
