//! Arbitrary bytes as an input file: split into JSON documents and normalised (CloudTrail log
//! files and records, EventBridge / SNS / LookupEvents envelopes, GCP LogEntries, Pub/Sub
//! bodies, Falco alerts). Must report malformed spans, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfdrift::input::{Document, split_documents};
use tfdrift::normalize::normalize_document;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    split_documents(data, |doc| {
        if let Document::Json(raw, _) = doc {
            normalize_document(raw, &mut out);
            out.clear();
        }
    });
});
