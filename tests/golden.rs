//! Golden tests: real corpus states + recorded events in, exact alert JSON out.
//!
//! Each `tests/golden/<case>/` holds `case.json` (corpus state files), `events.jsonl`, and the
//! expected `alerts.jsonl` and `stats.json`. `TFDRIFT_BLESS=1 cargo test --test golden` rewrites
//! the expectations; review the diff before committing it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;

use serde_json::{Value, json};
use tfdrift::pipeline::EngineOptions;

/// Replays one case; `None` when a state it needs is only in the extended corpus tier.
fn run_case(dir: &Path) -> Option<(String, Value)> {
    let case: Value =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
    let mut states: Vec<(String, Vec<u8>)> = Vec::new();
    for s in case["states"].as_array().unwrap() {
        let rel = s.as_str().unwrap();
        let path = common::corpus_file(rel)?;
        states.push((rel.to_string(), std::fs::read(path).unwrap()));
    }
    let refs: Vec<(&str, &[u8])> = states
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let opts = EngineOptions {
        terraform_principals: case["terraform_principals"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
        ..EngineOptions::default()
    };
    let mut engine = common::engine(&refs, &opts);
    let events = std::fs::read(dir.join("events.jsonl")).unwrap();
    let (alerts, stats) = common::replay(&mut engine, "events.jsonl", &events);
    let mut out = String::new();
    for a in &alerts {
        out.push_str(&serde_json::to_string(a).unwrap());
        out.push('\n');
    }
    let stats = json!({
        "records_read": stats.records_read,
        "alerts_by_kind": stats.alerts_by_kind,
        "in_sync": stats.in_sync,
        "failed_calls": stats.failed_calls,
        "read_only": stats.read_only,
        "data_plane": stats.data_plane,
        "terraform_originated": stats.terraform_originated,
        "duplicates": stats.duplicates,
        "operational": stats.operational,
        "operation_continuations": stats.operation_continuations,
        "unsupported_by_name": stats.unsupported_by_name,
    });
    Some((out, stats))
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("TFDRIFT_BLESS").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 4, "golden cases missing");
    let mut ran = 0;
    for dir in dirs {
        let Some((alerts, stats)) = run_case(&dir) else {
            continue;
        };
        ran += 1;
        let stats_text = serde_json::to_string_pretty(&stats).unwrap() + "\n";
        if bless {
            std::fs::write(dir.join("alerts.jsonl"), &alerts).unwrap();
            std::fs::write(dir.join("stats.json"), &stats_text).unwrap();
            continue;
        }
        let want_alerts = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap_or_else(|_| {
            panic!(
                "{}: no alerts.jsonl (run with TFDRIFT_BLESS=1)",
                dir.display()
            )
        });
        let want_stats = std::fs::read_to_string(dir.join("stats.json")).unwrap();
        // Compare as JSON values line by line, for readable failures.
        let got: Vec<Value> = alerts
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let want: Vec<Value> = want_alerts
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{}: number of alerts\n{alerts}",
            dir.display()
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{}", dir.display());
        }
        assert_eq!(stats_text, want_stats, "{}: stats", dir.display());
    }
    assert!(ran >= 1, "no golden case ran");
}
