//! Arbitrary text as an SQS message body (S3 / SNS / EventBridge notifications, raw records):
//! work to do or a reason to drop it, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let _ = tfdrift::collect::sqs::sniff(&body);
    let _ = tfdrift::collect::sqs::decode_key(&body);
});
