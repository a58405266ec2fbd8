//! Arbitrary text as a tfdrift configuration file (profiles, sources, notify, store): a
//! configuration or an error naming the line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(cfg) = tfdrift::config::parse_config("fuzz.yaml", &text) {
        for profile in cfg.profiles.values() {
            let _ = profile.remote_state();
            let _ = profile.severity();
        }
    }
});
