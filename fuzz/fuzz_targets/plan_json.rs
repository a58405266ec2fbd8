//! Arbitrary bytes as Terraform's output: the `plan -json` stream and a `show -json` plan
//! document (with each change's attribute diffs and an explain over them) give reports or a clear
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfdrift::reconcile::{Attribution, explain, plan};

fuzz_target!(|data: &[u8]| {
    let _ = plan::parse_stream(&String::from_utf8_lossy(data));
    if let Ok(doc) = plan::parse_plan(data) {
        for c in doc.drift.iter().chain(&doc.changes) {
            for d in plan::attribute_diffs(c) {
                let _ = plan::is_noise(&doc, c, &d.path);
            }
        }
        let mut nobody = |_: &tfdrift::drift::Drift| Attribution::default();
        let _ = explain::explain(&doc, &[], &mut nobody);
    }
});
