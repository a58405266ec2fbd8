//! Feeds arbitrary bytes to the rule-file parser: it must return rules or diagnostics, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(set) = tfdrift::rules::RuleSet::from_str("fuzz.yaml", &text) {
        // Loaded tests exercise evaluation on whatever alerts the input describes.
        let _ = set.run_tests(None, chrono::NaiveDate::MIN);
    }
});
