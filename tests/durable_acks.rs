//! What tfdrift acknowledges survives `kill -9` of the real daemon
//! (`tfdrift tui --profile P --no-ui`, on-disk store):
//!
//! - every Falco POST answered 200 by the daemon's `falco_http` source is in the store after
//!   the kill, though several clients were posting when it died (Falco does not retry);
//! - a notification to a `jsonl` channel that was written just before the kill (its outbox item
//!   still `sending`) is not written again after the restart, and the items in flight at the
//!   kill are delivered by the restarted daemon in its own run, not after the 5-minute lease.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::live_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use live_support::{falco_ct, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let yaml = format!(
        "profiles:\n  d:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    rules: []\n    store: {{path: \"{}\"}}\n{body}",
        dir.join("store.db").display()
    );
    let p = dir.join("tfdrift.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Starts the daemon; its stderr is collected (for failure messages).
fn daemon(cfg: &Path, extra: &[&str]) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(BIN)
        .args([
            "tui",
            "--no-ui",
            "--no-stdout",
            "--profile",
            "d",
            "--config",
        ])
        .arg(cfg)
        .args(extra)
        .env("TFDRIFT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = log.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            l.lock().unwrap().push(line);
        }
    });
    (child, log)
}

fn kill_9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(st.signal(), Some(9), "the daemon died by SIGKILL");
    }
}

fn read_only(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// (a) Several clients post Falco alerts to the daemon as fast as it answers; after a few
/// hundred 200s it is killed with SIGKILL. Every event answered 200 has its alert in the store.
#[test]
fn every_falco_post_answered_200_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        &format!("    sources: [{{type: falco_http, listen: \"127.0.0.1:{port}\"}}]\n"),
    );
    let (mut child, log) = daemon(&cfg, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_mins(1);
    while !rt.block_on(async {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }) {
        assert!(
            Instant::now() < deadline,
            "receiver did not come up: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = 8;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base, acked, stop) =
            (client.clone(), base.clone(), acked.clone(), stop.clone());
        tasks.push(rt.spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("kill-{c}-{i}");
                i += 1;
                let r = client
                    .post(&base)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&falco_ct(&id)).unwrap())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("POST {id}: {}", r.status()),
                    // The daemon is gone.
                    Err(_) => return,
                }
            }
        }));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_mins(2);
    while acked.lock().unwrap().len() < 1500 {
        assert!(
            Instant::now() < deadline,
            "only {} POSTs answered: {:?}",
            acked.lock().unwrap().len(),
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    kill_9(&mut child);
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        rt.block_on(t).unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let db = read_only(&dir.path().join("store.db"));
    let stored: BTreeSet<String> = db
        .prepare("SELECT event_id FROM alerts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    eprintln!(
        "kill -9 after {} POSTs answered 200 in {:.2} s by {clients} clients ({} alerts stored): {} lost",
        acked.len(),
        took.as_secs_f64(),
        stored.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{} of {} POSTs answered 200 are not in the store, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// Outbox rows by status.
fn outbox(db: &rusqlite::Connection) -> BTreeMap<i64, (String, String)> {
    db.prepare("SELECT id, alert_id, status FROM outbox")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The alert ids of the channel file's lines (each alert is routed to this one channel once).
fn archived(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// (b) The daemon delivers to a `jsonl` channel. The test takes SQLite's write lock, so that the
/// worker writes a line and then waits to record the delivery; once such a line is in the file
/// the daemon is killed with SIGKILL. A restarted daemon (`--once`: one pass over the already
/// processed events, then the drain) must deliver every item that was in flight, and write no
/// alert twice.
#[test]
fn jsonl_channel_after_kill_9_is_delivered_once_and_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("alerts.jsonl");
    // A stream of distinct drifts (each a new security group opened to the world), so there is
    // always a first notification in flight: repeated occurrences of one drift do not notify.
    let events = dir.path().join("events.jsonl");
    let mut lines = String::new();
    for n in 0..200 {
        std::fmt::Write::write_fmt(
            &mut lines,
            format_args!(
                concat!(
                    r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice"}},"#,
                    r#""eventTime":"2026-11-27T09:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","#,
                    r#""awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.30","#,
                    r#""requestParameters":{{"groupId":"sg-{n:017x}","ipPermissions":{{"items":[{{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{{"items":[{{"cidrIp":"0.0.0.0/0"}}]}}}}]}}}},"#,
                    r#""responseElements":{{"_return":true}},"eventID":"jsonl-kill-{n}","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#,
                    "\n"
                ),
                n = n
            ),
        )
        .unwrap();
    }
    std::fs::write(&events, lines).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "    inputs: [\"{}\"]\n    replay: {{loop: false, interval_ms: 20}}\n    notify:\n      defaults: [archive]\n      channels:\n        archive: {{type: jsonl, path: \"{}\"}}\n",
            events.display(),
            archive.display()
        ),
    );
    let db_path = dir.path().join("store.db");
    let (mut child, log) = daemon(&cfg, &[]);

    // Wait for deliveries to be under way.
    let deadline = Instant::now() + Duration::from_mins(1);
    while archived(&archive).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no deliveries: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Take the write lock at a moment when items are claimed (`sending`); then the worker
    // writes their lines but cannot record them as delivered.
    let mut lock = rusqlite::Connection::open(&db_path).unwrap();
    lock.busy_timeout(Duration::from_secs(30)).unwrap();
    let deadline = Instant::now() + Duration::from_mins(1);
    let tx = loop {
        let tx = lock
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        let sending: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE status = 'sending'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if sending > 0 {
            break tx;
        }
        tx.rollback().unwrap();
        assert!(Instant::now() < deadline, "nothing ever in flight");
        std::thread::sleep(Duration::from_millis(5));
    };
    let written_unrecorded = |tx: &rusqlite::Transaction<'_>| -> Vec<String> {
        let file: BTreeSet<String> = archived(&archive).into_iter().collect();
        let mut st = tx
            .prepare("SELECT alert_id FROM outbox WHERE status = 'sending'")
            .unwrap();
        st.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|a| file.contains(a))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(8);
    while written_unrecorded(&tx).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the worker wrote no line while the store was locked: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill_9(&mut child);
    tx.rollback().unwrap();
    drop(lock);

    let before = outbox(&read_only(&db_path));
    let in_flight: Vec<i64> = before
        .iter()
        .filter(|(_, (_, st))| st == "sending")
        .map(|(id, _)| *id)
        .collect();
    let file_before: BTreeSet<String> = archived(&archive).into_iter().collect();
    let rewritable = in_flight
        .iter()
        .filter(|id| file_before.contains(&before[*id].0))
        .count();
    assert!(
        !in_flight.is_empty() && rewritable > 0,
        "the kill left items in flight, some already written: {before:?}"
    );

    // Restart: one pass over the same (already processed) events, then the drain.
    let (mut child, log) = daemon(&cfg, &["--once", "--replay-interval-ms", "0"]);
    let deadline = Instant::now() + Duration::from_mins(1);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("restarted daemon did not finish: {:?}", log.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "{:?}", log.lock().unwrap());

    let after = outbox(&read_only(&db_path));
    let undelivered: Vec<_> = after
        .iter()
        .filter(|(_, (_, st))| st != "delivered")
        .collect();
    assert!(
        undelivered.is_empty(),
        "items in flight at the kill were not delivered by the restarted daemon ({} in flight, {} already written): {undelivered:?}",
        in_flight.len(),
        rewritable
    );
    let lines = archived(&archive);
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &lines {
        *count.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "alerts written twice: {twice:?}");
    assert_eq!(
        lines.len(),
        after.len(),
        "one line per outbox item (each alert once)"
    );
    let text = std::fs::read_to_string(&archive).unwrap();
    let with_ids: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("{\"delivery_id\":\"")
                .and_then(|r| r.split('"').next())
        })
        .collect();
    assert_eq!(
        with_ids.len(),
        lines.len(),
        "every line has its own delivery id"
    );
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("earlier tfdrift process died are due again"),
        "the restart took back the dead leases at once:\n{log}"
    );
}
