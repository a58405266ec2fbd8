//! Arbitrary bytes as a Terraform state file: resources or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tfdrift::state::parse_state("fuzz.tfstate", data);
});
