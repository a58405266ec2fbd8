//! The live pipeline swaps in valid rule changes for the next event, keeps the old rules on an
//! invalid change and surfaces the errors in its stats.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tfdrift::catalog::Catalog;
use tfdrift::config::ReplaySettings;
use tfdrift::pipeline::{PipelineConfig, spawn};
use tfdrift::rules::RuleSet;
use tfdrift::state::{StateIndex, parse_state};

const RULE_HIGH: &str = "rules:\n  - id: live-1\n    name: instance type\n    resource_types: [aws_instance]\n    conditions:\n      - attribute: instance_type\n        operator: changed\n    severity: high\n";
const RULE_CRITICAL: &str = "rules:\n  - id: live-2\n    name: instance type, louder\n    resource_types: [aws_instance]\n    conditions:\n      - attribute: instance_type\n        operator: changed\n    severity: critical\n";
const RULE_BROKEN: &str = "rules:\n  - id: live-3\n    name: broken\n    conditions:\n      - attribute: instance_type\n        operator: chnaged\n    severity: critical\n";

// Wait for an alert ranked by `predicate` (instance-type drift on aws_instance.web).
async fn wait_for(
    handle: &mut tfdrift::pipeline::PipelineHandle,
    what: &str,
    predicate: impl Fn(&tfdrift::alert::Alert) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if let Ok(Some(a)) =
            tokio::time::timeout(Duration::from_secs(1), handle.alerts.recv()).await
            && predicate(&a)
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_files_reload_live() {
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("live.yaml");
    std::fs::write(&rules_file, RULE_HIGH).unwrap();
    let initial = RuleSet::load(std::slice::from_ref(&rules_file)).unwrap();

    let state_bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/terraform.tfstate"),
    )
    .unwrap();
    let state = Arc::new(StateIndex::new(parse_state("s", &state_bytes).unwrap()));
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/events.jsonl");
    let cfg = PipelineConfig {
        inputs: vec![events.display().to_string()],
        replay: ReplaySettings {
            looping: true,
            interval_ms: 20,
        },
        rules: Arc::new(initial),
        rule_paths: vec![dir.path().to_path_buf()],
        ..PipelineConfig::default()
    };
    let mut handle = spawn(Arc::new(Catalog::embedded().unwrap()), state, &cfg).unwrap();

    let instance = |a: &tfdrift::alert::Alert| {
        a.resource.address.as_deref() == Some("aws_instance.web")
            && a.diffs.iter().any(|d| d.path == "instance_type")
    };
    wait_for(&mut handle, "the initial rule", |a| {
        instance(a) && a.rules == ["live-1"]
    })
    .await;

    // An invalid change: rejected, errors in the stats, old rules still in force.
    std::fs::write(&rules_file, RULE_BROKEN).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failures = handle.stats.borrow().rule_reload_failures;
        if failures > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken rule file was not reported"
        );
        // Keep draining alerts so the pipeline keeps moving.
        let _ = tokio::time::timeout(Duration::from_millis(200), handle.alerts.recv()).await;
    }
    let errors = handle.stats.borrow().rule_errors.join("\n");
    assert!(errors.contains("chnaged"), "{errors}");
    wait_for(&mut handle, "the old rule after a rejected change", |a| {
        instance(a) && a.rules == ["live-1"]
    })
    .await;

    // A valid change: swapped in for the next events.
    std::fs::write(&rules_file, RULE_CRITICAL).unwrap();
    wait_for(&mut handle, "the reloaded rule", |a| {
        instance(a) && a.rules == ["live-2"] && a.severity == tfdrift::alert::Severity::Critical
    })
    .await;
    // Stats are published once the engine's queue is empty, just after the alert went out.
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.stats.borrow().rule_reloads < 1 {
        assert!(
            Instant::now() < deadline,
            "the reload was not counted in the stats"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), handle.alerts.recv()).await;
    }
    handle.cancel();
    while handle.alerts.recv().await.is_some() {}
    handle.join().await;
}
