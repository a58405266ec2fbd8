//! The live pipeline hot-reloads a profile's own catalog files: a valid change (an edited or
//! added file) is swapped in for the next events; an invalid one keeps the previous catalog,
//! and its problems (`file:line:column`) and a failure count reach the stats.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tfdrift::alert::{Alert, Severity};
use tfdrift::catalog::Catalog;
use tfdrift::config::ReplaySettings;
use tfdrift::pipeline::{PipelineConfig, PipelineHandle, spawn};
use tfdrift::state::{StateIndex, parse_state};

/// ModifyInstanceAttribute silenced: the demo's instance-type change raises nothing.
const SILENCED: &str =
    "provider: aws\nsource: ec2.amazonaws.com\noperational: [ModifyInstanceAttribute]\n";
/// A user mapping of the same call, instance type only, at critical.
const CRITICAL: &str = "provider: aws\nsource: ec2.amazonaws.com\nevents:\n  - name: ModifyInstanceAttribute\n    type: aws_instance\n    kind: update\n    id: request.instanceId\n    severity: critical\n    attributes:\n      - { path: instance_type, from: request.instanceType, convert: ec2_value }\n";

fn instance_type(a: &Alert) -> bool {
    a.resource.address.as_deref() == Some("aws_instance.web")
        && a.diffs.iter().any(|d| d.path == "instance_type")
}

/// Drains alerts until `cond` holds on the stats (or an alert), failing after 30 s.
async fn until(
    handle: &mut PipelineHandle,
    what: &str,
    mut cond: impl FnMut(&tfdrift::pipeline::Stats, Option<&Alert>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        let alert = tokio::time::timeout(Duration::from_millis(200), handle.alerts.recv())
            .await
            .ok()
            .flatten();
        let stats = handle.stats.borrow().clone();
        if cond(&stats, alert.as_ref()) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_files_reload_live() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ec2.yaml");
    std::fs::write(&file, SILENCED).unwrap();
    let mut catalog = Catalog::embedded().unwrap();
    tfdrift::catalog::user::load(&mut catalog, &[dir.path().display().to_string()]).unwrap();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let state_bytes = std::fs::read(root.join("assets/demo/terraform.tfstate")).unwrap();
    let state = Arc::new(StateIndex::new(parse_state("s", &state_bytes).unwrap()));
    let cfg = PipelineConfig {
        inputs: vec![root.join("assets/demo/events.jsonl").display().to_string()],
        replay: ReplaySettings {
            looping: true,
            interval_ms: 20,
        },
        ..PipelineConfig::default()
    };
    let mut handle = spawn(Arc::new(catalog), state, &cfg).unwrap();

    // Silenced: two passes over the demo (two ModifyInstanceAttribute each) are operational,
    // and no instance-type alert goes out meanwhile.
    let mut leaked = false;
    until(&mut handle, "the silenced calls", |s, a| {
        leaked |= a.is_some_and(instance_type);
        s.operational >= 4
    })
    .await;
    assert!(
        !leaked,
        "the user file's operational entry was not in force"
    );

    // An invalid change: rejected with its position, the previous catalog kept.
    std::fs::write(&file, CRITICAL.replace("aws_instance", "aws_instanse")).unwrap();
    until(&mut handle, "the rejected change in the stats", |s, _| {
        s.catalog_reload_failures >= 1
    })
    .await;
    let errors = handle.stats.borrow().catalog_errors.join("\n");
    assert!(errors.contains("ec2.yaml:5:11"), "{errors}");
    assert!(errors.contains("did you mean 'aws_instance'"), "{errors}");
    let operational = handle.stats.borrow().operational;
    let mut leaked = false;
    until(
        &mut handle,
        "more silenced calls after the rejection",
        |s, a| {
            leaked |= a.is_some_and(instance_type);
            s.operational >= operational + 4
        },
    )
    .await;
    assert!(!leaked, "a rejected change replaced the catalog");

    // A valid change: the user mapping (critical) is used for the next events.
    std::fs::write(&file, CRITICAL).unwrap();
    until(&mut handle, "the reloaded mapping's alert", |_, a| {
        a.is_some_and(|a| instance_type(a) && a.severity == Severity::Critical)
    })
    .await;
    until(&mut handle, "the reload in the stats", |s, _| {
        s.catalog_reloads >= 1 && s.catalog_errors.is_empty()
    })
    .await;

    // An added file is picked up too: DetachRolePolicy silenced on top.
    std::fs::write(
        dir.path().join("iam.yaml"),
        "provider: aws\nsource: iam.amazonaws.com\noperational: [DetachRolePolicy]\n",
    )
    .unwrap();
    let before = handle.stats.borrow().operational;
    until(&mut handle, "the added file", |s, _| s.catalog_reloads >= 2).await;
    until(&mut handle, "the added file's operational entry", |s, _| {
        s.operational > before
    })
    .await;
    handle.cancel();
    while handle.alerts.recv().await.is_some() {}
    handle.join().await;
}
