//! Durability: a writer killed with SIGKILL mid-stream loses nothing it reported as written.
//!
//! The test re-executes its own binary as the writer (selected by an environment variable):
//! the child records alerts (each with a history row and an outbox item) and acknowledgements
//! one transaction at a time, printing each id only after the write returned. The parent reads
//! ids until a few hundred are out, sends SIGKILL while the child is still writing, then reopens
//! the database and checks that every printed id is there and the file is intact.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{Duration, Utc};
use tfdrift::alert::{ActorRef, Alert, AlertKind, EventRef, ResourceRef, SCHEMA, Severity};
use tfdrift::store::{OutboxItem, OutboxStatus, SqliteStore, Store, Target, resource_key};

const CHILD_ENV: &str = "TFDRIFT_KILL9_CHILD_DB";
const TEST_NAME: &str = "kill_9_loses_nothing_reported_written";
/// Ids to read before killing; the child would go on far longer.
const KILL_AFTER: usize = 300;

fn alert(i: u64) -> Alert {
    Alert {
        schema: SCHEMA.into(),
        id: format!("tfd-kill-{i}"),
        time: Utc::now(),
        kind: AlertKind::AttributeDrift,
        severity: Severity::High,
        provider: "aws".into(),
        resource: ResourceRef {
            rtype: "aws_security_group".into(),
            id: format!("sg-{}", i % 7),
            address: Some(format!("aws_security_group.sg{}", i % 7)),
            managed: true,
        },
        diffs: Vec::new(),
        event: EventRef {
            id: format!("ev-{i}"),
            name: "AuthorizeSecurityGroupIngress".into(),
            service: "ec2".into(),
            time: None,
            time_source: None,
            region: Some("us-east-1".into()),
            account: None,
        },
        actor: ActorRef {
            arn: Some("arn:aws:sts::1:assumed-role/Admin/alice".into()),
            ..ActorRef::default()
        },
        rules: Vec::new(),
        remediation: Vec::new(),
        runbook: None,
        enrichment: tfdrift::alert::Enrichment::default(),
        drift_id: None,
        drift_ids: Vec::new(),
        attribution: None,
    }
}

/// The writer: runs until killed.
fn child(db: &Path) {
    let store = SqliteStore::open(db).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..10_000_000u64 {
        let a = alert(i);
        let item = OutboxItem {
            channel: "slack".into(),
            alert_id: a.id.clone(),
            payload: "{}".into(),
        };
        assert!(
            store
                .record_alerts(&[&a.event.id], None, std::slice::from_ref(&a), &[item])
                .unwrap()
        );
        writeln!(out, "alert {}", a.id).unwrap();
        if i % 3 == 0 {
            let id = store
                .ack(
                    &Target::Alert(a.id.clone()),
                    "alice",
                    Some("kill test"),
                    Utc::now(),
                )
                .unwrap();
            writeln!(out, "ack {id} {}", a.id).unwrap();
        }
        out.flush().unwrap();
    }
}

#[test]
fn kill_9_loses_nothing_reported_written() {
    if let Some(db) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&db));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tfdrift.db");
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &crate::common::harness_name(module_path!(), TEST_NAME),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let mut alerts = Vec::new();
    let mut acks = Vec::new();
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("alert ") {
            alerts.push(id.to_string());
        } else if let Some(rest) = line.strip_prefix("ack ") {
            let (row, alert) = rest.split_once(' ').unwrap();
            acks.push((row.parse::<i64>().unwrap(), alert.to_string()));
        }
        if !killed && alerts.len() >= KILL_AFTER {
            proc.kill().unwrap(); // SIGKILL on Unix
            killed = true;
        }
    }
    // Lines still in the pipe after the kill were printed after their writes returned too.
    let status = proc.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(
            status.signal(),
            Some(9),
            "the writer died by SIGKILL, mid-stream"
        );
    }
    assert!(
        killed && alerts.len() >= KILL_AFTER,
        "only {} alerts",
        alerts.len()
    );

    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let since = Utc::now() - Duration::hours(1);
    let mut history_rows = 0;
    for k in 0..7 {
        history_rows += store
            .history(&resource_key(&alert(k).resource), since)
            .unwrap()
            .len();
    }
    assert!(
        history_rows >= alerts.len(),
        "history: {history_rows} < {}",
        alerts.len()
    );
    for id in &alerts {
        let a = store.alert(id).unwrap();
        assert!(
            a.is_some(),
            "alert {id} was reported written but is missing"
        );
        let a = a.unwrap();
        assert!(store.is_seen(&a.event.id).unwrap(), "event of {id}");
        let h = store.history(&resource_key(&a.resource), since).unwrap();
        assert!(h.iter().any(|h| &h.alert_id == id), "history row of {id}");
    }
    let pending = store.outbox_list(OutboxStatus::Pending, 1_000_000).unwrap();
    for id in &alerts {
        assert!(
            pending.iter().any(|e| &e.alert_id == id),
            "outbox item of {id}"
        );
    }
    for (row, alert_id) in &acks {
        let a = store.alert(alert_id).unwrap().unwrap();
        let got = store.acks_for(&a).unwrap();
        assert!(got.iter().any(|k| k.id == *row), "ack {row} of {alert_id}");
    }
    eprintln!(
        "kill -9 after {} alerts and {} acks reported: all present",
        alerts.len(),
        acks.len()
    );
}
