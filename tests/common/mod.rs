//! Helpers shared by integration tests: corpus location, a fresh engine, replay to a Vec.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::sync::Arc;

use tfdrift::alert::Alert;
use tfdrift::catalog::Catalog;
use tfdrift::pipeline::replay::replay_bytes;
use tfdrift::pipeline::{Engine, EngineOptions, Stats};
use tfdrift::state::{StateIndex, parse_state};

pub mod tier;
#[allow(unused_imports)]
pub use tier::{corpus, extended, file as corpus_file};

/// An engine over the embedded catalog and the given state files' bytes.
pub fn engine(states: &[(&str, &[u8])], opts: &EngineOptions) -> Engine {
    let mut resources = Vec::new();
    for (name, bytes) in states {
        resources.extend(parse_state(name, bytes).expect("test state must parse"));
    }
    Engine::new(
        Arc::new(Catalog::embedded().expect("catalog")),
        Arc::new(StateIndex::new(resources)),
        opts,
    )
    .expect("engine")
}

/// Replays one buffer, returning alerts and counters.
pub fn replay(engine: &mut Engine, name: &str, bytes: &[u8]) -> (Vec<Alert>, Stats) {
    let mut stats = Stats::default();
    let mut alerts = Vec::new();
    replay_bytes(engine, name, bytes, &mut stats, &mut |a| alerts.push(a));
    (alerts, stats)
}

/// The full name the test harness knows a test by, from its module's `module_path!()`
/// (`<file>::<test>`: all integration tests are modules of one binary), to re-run it alone in a
/// child process with `--exact`.
pub fn harness_name(module_path: &str, test: &str) -> String {
    let module = module_path.split_once("::").map_or(module_path, |(_, m)| m);
    format!("{module}::{test}")
}
