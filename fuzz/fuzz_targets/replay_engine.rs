//! Arbitrary bytes replayed through the whole engine (normalise, classify, map to a resource of
//! a real state, compare, rules, mask, enrich) against the demo's Terraform state: every record
//! yields alerts or a counted reason, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tfdrift::catalog::Catalog;
use tfdrift::pipeline::replay::replay_bytes;
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

fuzz_target!(|data: &[u8]| {
    let (catalog, state) = parts();
    let mut engine = Engine::new(catalog.clone(), state.clone(), &EngineOptions::default())
        .expect("engine");
    let mut stats = Stats::default();
    replay_bytes(&mut engine, "fuzz.jsonl", data, &mut stats, &mut |_| {});
});
