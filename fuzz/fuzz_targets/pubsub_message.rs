//! Arbitrary bytes as a Pub/Sub message's data (a log sink's LogEntry): items or one
//! unparseable item naming the message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tfdrift::collect::pubsub::message_items("projects/p/subscriptions/s", "m-1", data);
});
