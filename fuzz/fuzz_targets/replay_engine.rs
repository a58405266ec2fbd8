//! Arbitrary bytes replayed through the whole engine (normalise, classify, map to a resource of
//! a real state, compare, rules, mask, enrich) against the demo's Terraform state: every record
//! yields alerts or a counted reason, never a panic. The replay fast path (prefilter, chunks)
//! must give exactly what the full path gives: the same alert lines and the same stats.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tfdrift::catalog::Catalog;
use tfdrift::pipeline::replay::{ReplayOptions, replay_bytes, replay_bytes_with};
use tfdrift::pipeline::{Engine, EngineOptions, Stats};
use tfdrift::state::{StateIndex, parse_state};

fn parts() -> &'static (Arc<Catalog>, Arc<StateIndex>) {
    static PARTS: OnceLock<(Arc<Catalog>, Arc<StateIndex>)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let state = include_bytes!("../../assets/demo/terraform.tfstate");
        let resources = parse_state("demo.tfstate", state).expect("the demo state parses");
        (
            Arc::new(Catalog::embedded().expect("the embedded catalog loads")),
            Arc::new(StateIndex::new(resources)),
        )
    })
}

/// An alert line without what legitimately differs between two runs: a record with no event
/// time is stamped with the processing time (`event.time_source: processing`).
fn comparable(line: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).expect("alert lines are JSON");
    if v["event"]["time_source"] == "processing" {
        v["time"] = serde_json::Value::Null;
    }
    v.to_string()
}

/// Alert lines and stats of one replay of `data` in chunks of about `chunk` bytes.
fn run(data: &[u8], chunk: usize, full_parse: bool) -> (Vec<String>, String) {
    let (catalog, state) = parts();
    let mut engine = Engine::new(catalog.clone(), state.clone(), &EngineOptions::default())
        .expect("engine");
    let mut stats = Stats::default();
    let mut alerts = Vec::new();
    let options = ReplayOptions {
        threads: 1,
        full_parse,
    };
    replay_bytes_with(&mut engine, "fuzz.jsonl", data, chunk, options, &mut stats, &mut |a| {
        alerts.push(comparable(&a.to_json_line()));
    });
    (alerts, serde_json::to_string(&stats).expect("stats serialise"))
}

fuzz_target!(|data: &[u8]| {
    let (catalog, state) = parts();
    let mut engine = Engine::new(catalog.clone(), state.clone(), &EngineOptions::default())
        .expect("engine");
    let mut stats = Stats::default();
    replay_bytes(&mut engine, "fuzz.jsonl", data, &mut stats, &mut |_| {});
    // Small chunks (from the first byte) put chunk boundaries everywhere.
    let chunk = data.first().map_or(1, |b| 1 + usize::from(*b) * 4);
    for chunk in [chunk, 8 << 20] {
        let full = run(data, chunk, true);
        let fast = run(data, chunk, false);
        assert_eq!(full.1, fast.1, "stats differ (chunk {chunk})");
        assert_eq!(full.0, fast.0, "alerts differ (chunk {chunk})");
    }
});
