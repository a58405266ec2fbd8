//! Helpers for the GCP live tests: the Pub/Sub emulator of this machine's google-cloud-cli,
//! started once per test binary, topics and subscriptions through its REST API, and a store
//! whose writes can be made to fail.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::io::Read as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tfdrift::alert::Alert;
use tfdrift::store::{
    Ack, HistoryEntry, OutboxEntry, OutboxItem, OutboxStatus, Pruned, Snooze, Store, StoreError,
    Target,
};

/// The emulator: `gcloud beta emulators pubsub start` under a small shell that stops it
/// (gcloud runs in its own process group, with java below it) when our end of its stdin
/// closes, which happens when the test binary exits.
pub struct Emulator {
    pub url: String,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();
static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// The shared emulator, started on first use; fails (never skips) when it cannot run.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(start)
}

fn start() -> Emulator {
    let gcloud = Command::new("gcloud")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        gcloud.is_ok_and(|s| s.success()),
        "gcloud is missing: the Pub/Sub tests need google-cloud-cli with the \
         google-cloud-cli-pubsub-emulator component and Java (run scripts/ci-deps.sh)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::env::temp_dir().join(format!("tfdrift-pubsub-emulator-{port}.log"));
    let script = format!(
        "gcloud beta emulators pubsub start --host-port=127.0.0.1:{port} --project=test \
         >'{}' 2>&1 & pid=$!; read -r _; kill -TERM -$pid 2>/dev/null; kill -TERM $pid 2>/dev/null",
        log.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting sh for the Pub/Sub emulator");
    let stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let mut text = String::new();
            let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
            panic!(
                "the Pub/Sub emulator did not listen on 127.0.0.1:{port} within 90 s; it needs \
                 google-cloud-cli, its google-cloud-cli-pubsub-emulator component and Java \
                 (run scripts/ci-deps.sh). Its log ({}):\n{text}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Emulator {
        url: format!("http://127.0.0.1:{port}"),
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    }
}

impl Emulator {
    /// A fresh topic with one subscription; returns the subscription's full name.
    pub async fn topic_and_subscription(&self, tag: &str, ack_deadline: u32) -> (String, String) {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let stamp = std::process::id();
        let topic = format!("projects/test/topics/audit-{tag}-{stamp}-{n}");
        let sub = format!("projects/test/subscriptions/sink-{tag}-{stamp}-{n}");
        let http = reqwest::Client::new();
        let r = http
            .put(format!("{}/v1/{topic}", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create topic: {}", r.status());
        let r = http
            .put(format!("{}/v1/{sub}", self.url))
            .json(&json!({"topic": topic, "ackDeadlineSeconds": ack_deadline}))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "create subscription: {}",
            r.status()
        );
        (topic, sub)
    }

    /// Publishes each payload as one message (`data` = the bytes); returns the message ids.
    pub async fn publish(&self, topic: &str, payloads: &[Vec<u8>]) -> Vec<String> {
        let http = reqwest::Client::new();
        let mut ids = Vec::new();
        for chunk in payloads.chunks(500) {
            let messages: Vec<Value> = chunk
                .iter()
                .map(|p| json!({"data": base64::engine::general_purpose::STANDARD.encode(p)}))
                .collect();
            let r: Value = http
                .post(format!("{}/v1/{topic}:publish", self.url))
                .json(&json!({ "messages": messages }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let got = r["messageIds"].as_array().expect("publish answer").clone();
            ids.extend(got.iter().map(|v| v.as_str().unwrap().to_string()));
        }
        ids
    }

    /// Messages a plain pull finds right now (they are leased, not acknowledged: a later
    /// pull sees them again after the ack deadline).
    pub async fn pull_now(&self, sub: &str) -> usize {
        let r: Value = reqwest::Client::new()
            .post(format!("{}/v1/{sub}:pull", self.url))
            .json(&json!({"maxMessages": 1000, "returnImmediately": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["receivedMessages"].as_array().map_or(0, Vec::len)
    }
}

/// A store that fails the first `fail` calls to `record_alerts` and delegates everything.
pub struct FlakyStore {
    pub inner: Arc<dyn Store>,
    pub fail: AtomicUsize,
    pub failed: AtomicUsize,
    pub recorded: AtomicUsize,
}

impl FlakyStore {
    pub fn new(inner: Arc<dyn Store>, fail: usize) -> Self {
        Self {
            inner,
            fail: AtomicUsize::new(fail),
            failed: AtomicUsize::new(0),
            recorded: AtomicUsize::new(0),
        }
    }
}

impl Store for FlakyStore {
    fn is_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.is_seen(key)
    }
    fn record_event(&self, key: &str, time: Option<DateTime<Utc>>) -> Result<bool, StoreError> {
        self.inner.record_event(key, time)
    }
    fn record_alerts(
        &self,
        seen: &[&str],
        time: Option<DateTime<Utc>>,
        alerts: &[Alert],
        outbox: &[OutboxItem],
    ) -> Result<bool, StoreError> {
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Sql {
                path: "flaky".into(),
                op: "record alerts",
                source: rusqlite::Error::InvalidQuery,
            });
        }
        let r = self.inner.record_alerts(seen, time, alerts, outbox);
        if matches!(r, Ok(true)) {
            self.recorded.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.inner.alert(id)
    }
    fn recent_alerts(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Alert>, StoreError> {
        self.inner.recent_alerts(since, limit)
    }
    fn history(&self, key: &str, since: DateTime<Utc>) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(key, since)
    }
    fn actor_recent(
        &self,
        actor: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.actor_recent(actor, since, limit)
    }
    fn ack(
        &self,
        target: &Target,
        who: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.inner.ack(target, who, note, at)
    }
    fn acks_for(&self, alert: &Alert) -> Result<Vec<Ack>, StoreError> {
        self.inner.acks_for(alert)
    }
    fn snooze(
        &self,
        target: &Target,
        who: &str,
        until: DateTime<Utc>,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.inner.snooze(target, who, until, note, at)
    }
    fn snoozed(&self, alert: &Alert, now: DateTime<Utc>) -> Result<Option<Snooze>, StoreError> {
        self.inner.snoozed(alert, now)
    }
    fn outbox_enqueue(&self, items: &[OutboxItem], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.outbox_enqueue(items, now)
    }
    fn outbox_claim(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: chrono::Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_claim(now, limit, lease)
    }
    fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.outbox_delivered(id, at)
    }
    fn outbox_retry_at(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.inner.outbox_retry_at(id, at, error)
    }
    fn outbox_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.inner.outbox_failed(id, error)
    }
    fn outbox_list(
        &self,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox_list(status, limit)
    }
    fn outbox_retry_failed(
        &self,
        channel: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.inner.outbox_retry_failed(channel, now)
    }
    fn prune(&self, older_than: DateTime<Utc>) -> Result<Pruned, StoreError> {
        self.inner.prune(older_than)
    }
    fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError> {
        self.inner.outbox_counts()
    }
    fn outbox_counts_by_channel(
        &self,
        status: OutboxStatus,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.outbox_counts_by_channel(status)
    }
}
