//! Arbitrary bytes as a CloudTrail log object fetched from S3 (SQS notifications, backfill):
//! lenient gunzip (truncations and bombs are cut and counted), documents, normalisation, the
//! file name's delivery time. Items or counted reasons, never a panic or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tfdrift::collect::log_object_items(
        "trail-bucket",
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/07/111122223333_CloudTrail_us-east-1_20261207T1505Z_abc.json.gz",
        data.to_vec(),
    );
});
