//! Arbitrary bytes as a protobuf `falco.outputs.response` from Falco's gRPC output API: decoded
//! (or rejected by prost) and turned into source items, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use tfdrift::collect::falco_grpc::proto::falco::outputs::Response;
use tfdrift::collect::falco_grpc::to_items;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Response::decode(data) {
        let _ = to_items("fuzz", &r);
    }
});
