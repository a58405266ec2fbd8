//! Exactly once across a crash, with the real binary: `tfdrift tui --profile kill --no-ui`
//! consumes CloudTrail notifications from SQS on moto (real corpus log files, several copies
//! with tagged event ids so there are hundreds of messages), is killed with SIGKILL once alerts
//! have started to come out, and is started again to drain the queue.
//!
//! What the code guarantees, and what is asserted:
//! - **Store: exactly once.** The engine commits an alert together with its event id (one
//!   transaction, `synchronous=FULL`) before it is handed on, and a message is deleted only
//!   after the engine acknowledged all its records. Messages in flight at the kill come back
//!   after the visibility timeout; their already-committed events are found in the store and
//!   never alert again. So the store ends with every expected alert, once.
//! - **Stdout: at most once, never duplicated.** A line is printed only after its commit, and
//!   a redelivered committed event raises no alert, so nothing is printed twice; an alert
//!   committed but not yet printed when the process died is never printed (it is in the store,
//!   and its notifications are in the outbox in the same transaction). The test therefore checks:
//!   first run's lines ⊆ the store as the kill left it (S1); second run's lines = expected ∖ S1
//!   exactly; no id printed twice across both runs.
//! - The queue ends empty.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::live_support;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use live_support::cloudtrail::{self, BUCKET};
use serde_json::Value;
use tfdrift::pipeline::EngineOptions;

/// Copies of the corpus (event ids tagged per copy): enough messages that a kill after the
/// first alerts always lands mid-stream.
const COPIES: usize = 4;
/// Alert lines to see on stdout before the SIGKILL.
const KILL_AFTER: usize = 3;

fn spawn_tfdrift(cfg: &Path, home: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tfdrift"))
        .args(["tui", "--profile", "kill", "--no-ui", "--config"])
        .arg(cfg)
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TFDRIFT_LOG", "warn")
        .env_remove("AWS_PROFILE")
        .env_remove("TFDRIFT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting tfdrift")
}

/// Collects the alert ids a child prints, line by line, in a thread.
fn read_ids(child: &mut Child) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = ids.clone();
    let t = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line).expect("stdout carries alert JSON lines");
            sink.lock()
                .unwrap()
                .push(v["id"].as_str().unwrap().to_string());
        }
    });
    (ids, t)
}

fn stored(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT id, event_id || '|' || resource_type || '|' || resource_id || '|' || kind FROM alerts")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> i64 {
    let (visible, in_flight) = cloudtrail::queue_depth(sqs, url).await;
    visible + in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_then_restart_stores_every_alert_exactly_once() {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let files = cloudtrail::corpus_files(COPIES, usize::MAX);
    let mut engine = common::engine(&[], &EngineOptions::default());
    let mut expected = BTreeSet::new();
    let mut about = std::collections::BTreeMap::new();
    for f in &files {
        for a in common::replay(&mut engine, &f.key, f.body().as_bytes()).0 {
            about.insert(
                a.id.clone(),
                format!(
                    "{} {} {}:{} in {}",
                    a.event.id, a.event.name, a.resource.rtype, a.resource.id, f.key
                ),
            );
            expected.insert(a.id);
        }
    }
    cloudtrail::upload(&s3, &files).await;
    let queue_url =
        cloudtrail::fill_queue(&sqs, "cloudtrail", &cloudtrail::one_key_each(&files)).await;
    assert!(
        expected.len() > 4 * KILL_AFTER,
        "the corpus should alert: {}",
        expected.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  kill:\n    store: {{path: {db}}}\n    sources:\n      - type: sqs\n        queue_url: {queue_url}\n        region: us-east-1\n        endpoint_url: {url}\n        wait_time_seconds: 1\n        visibility_timeout_seconds: 4\n",
            db = db.display(),
            url = moto.url,
        ),
    )
    .unwrap();

    // The corpus is from 2023 and the default retention is 30 days: the prune at start-up must
    // keep run 1's rows (alerts age by when they were recorded, not by event time).

    // Run 1: SIGKILL once alerts come out.
    let mut first = spawn_tfdrift(&cfg, dir.path());
    let (ids1, reader1) = read_ids(&mut first);
    let deadline = Instant::now() + Duration::from_mins(2);
    while ids1.lock().unwrap().len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "no alerts from the first run");
        assert!(first.try_wait().unwrap().is_none(), "tfdrift exited early");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    reader1.join().unwrap();
    let printed1: Vec<String> = ids1.lock().unwrap().clone();
    let s1: BTreeSet<String> = stored(&db).into_iter().map(|(id, _)| id).collect();
    assert!(
        s1.len() < expected.len(),
        "the kill came after everything was processed ({} of {}): not mid-stream",
        s1.len(),
        expected.len()
    );
    assert!(queue_depth(&sqs, &queue_url).await > 0, "messages are left");
    let printed1_set: BTreeSet<String> = printed1.iter().cloned().collect();
    assert_eq!(
        printed1_set.len(),
        printed1.len(),
        "run 1 printed an alert twice"
    );
    assert!(
        printed1_set.is_subset(&s1),
        "run 1 printed alerts it had not committed: {:?}",
        printed1_set.difference(&s1).collect::<Vec<_>>()
    );

    // Run 2: drains the queue (the killed run's in-flight messages reappear after the
    // visibility timeout), then stops on SIGTERM.
    let mut second = spawn_tfdrift(&cfg, dir.path());
    let (ids2, reader2) = read_ids(&mut second);
    let deadline = Instant::now() + Duration::from_mins(3);
    let mut quiet_since = Instant::now();
    let mut last_len = 0;
    loop {
        let len = ids2.lock().unwrap().len();
        if len != last_len {
            last_len = len;
            quiet_since = Instant::now();
        }
        if queue_depth(&sqs, &queue_url).await == 0
            && quiet_since.elapsed() > Duration::from_secs(2)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the queue was not drained");
        assert!(second.try_wait().unwrap().is_none(), "tfdrift exited early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pid = second.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = second.wait().unwrap();
    reader2.join().unwrap();
    assert!(status.success(), "clean stop on SIGTERM: {status:?}");

    // The store: every expected alert, exactly once per (event, resource, kind).
    let rows = stored(&db);
    let ids: BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let keys: BTreeSet<&String> = rows.iter().map(|(_, k)| k).collect();
    assert_eq!(keys.len(), rows.len(), "duplicate alert rows for one event");
    assert_eq!(ids.len(), rows.len());
    assert_eq!(
        ids,
        expected,
        "missing: {:?}; unexpected: {:?}",
        expected
            .difference(&ids)
            .map(|i| &about[i])
            .collect::<Vec<_>>(),
        ids.difference(&expected).collect::<Vec<_>>()
    );

    // Stdout: run 2 printed exactly what run 1 had not committed; nothing twice.
    let printed2: Vec<String> = ids2.lock().unwrap().clone();
    let printed2_set: BTreeSet<String> = printed2.iter().cloned().collect();
    assert_eq!(
        printed2_set.len(),
        printed2.len(),
        "run 2 printed an alert twice"
    );
    let rest: BTreeSet<String> = expected.difference(&s1).cloned().collect();
    assert_eq!(
        printed2_set, rest,
        "run 2 prints exactly the alerts run 1 had not committed"
    );
    assert!(
        printed1_set.is_disjoint(&printed2_set),
        "an alert was printed by both runs"
    );
    assert_eq!(
        queue_depth(&sqs, &queue_url).await,
        0,
        "the queue ends empty"
    );
}
