//! Notifications against a real local HTTP server: payload shapes (Slack, Discord, webhook with
//! a verified HMAC, PagerDuty), retries after an injected 500 and a 429 with `Retry-After`,
//! timeouts, and a dead channel that does not hold up the others. Runs the real outbox worker
//! over a real SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tfdrift::notify::settings::{ChannelKind, ChannelSettings, NotifySettings};
use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Envelope, Notifier, sample_alert, webhook};
use tfdrift::store::{OutboxItem, OutboxStatus, SqliteStore, Store};

#[derive(Default)]
struct Server {
    /// path → (headers, body) received.
    got: Mutex<Vec<(String, HeaderMap, Bytes)>>,
    /// path → scripted statuses, consumed one per request (then 200).
    script: Mutex<BTreeMap<String, Vec<u16>>>,
}

async fn hook(
    State(s): State<Arc<Server>>,
    Path(p): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if p == "slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let status = {
        let mut sc = s.script.lock().unwrap();
        sc.get_mut(&p)
            .and_then(|v| (!v.is_empty()).then(|| v.remove(0)))
            .unwrap_or(200)
    };
    s.got.lock().unwrap().push((p, h, body));
    let mut headers = HeaderMap::new();
    if status == 429 {
        headers.insert("retry-after", "1".parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), headers, "x")
}

async fn start_server() -> (Arc<Server>, String) {
    let s = Arc::new(Server::default());
    let app = axum::Router::new()
        .route("/{p}", axum::routing::post(hook))
        .with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (s, format!("http://{addr}"))
}

fn channel(kind: ChannelKind, url: &str) -> ChannelSettings {
    let yaml = format!(
        "type: {}\nurl: {url}\n",
        match kind {
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Pagerduty => "pagerduty",
            _ => unreachable!(),
        }
    );
    serde_saphyr::from_str(&yaml).unwrap()
}

fn fast() -> WorkerConfig {
    WorkerConfig {
        poll: Duration::from_millis(50),
        backoff_base: Duration::from_millis(100),
        max_attempts: 3,
        ..WorkerConfig::default()
    }
}

async fn wait_until(mut f: impl FnMut() -> bool, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn enqueue(store: &SqliteStore, channels: &[&str]) {
    let a = sample_alert();
    let payload = Envelope::Alert {
        alert: Box::new(a.clone()),
        repeats: 2,
        resolve_on_ack: false,
        occurrences: false,
        drift: None,
    }
    .to_payload();
    let items: Vec<OutboxItem> = channels
        .iter()
        .map(|c| OutboxItem {
            channel: (*c).into(),
            alert_id: a.id.clone(),
            payload: payload.clone(),
        })
        .collect();
    store.outbox_enqueue(&items, chrono::Utc::now()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_deliver_retry_and_fail_independently() {
    let (srv, base) = start_server().await;
    srv.script.lock().unwrap().insert("slack".into(), vec![500]);
    srv.script.lock().unwrap().insert("pd".into(), vec![429]);
    srv.script
        .lock()
        .unwrap()
        .insert("dead".into(), vec![503; 100]);
    // Secrets from a file (edition 2024 makes set_var unsafe; the crate forbids unsafe).
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let secret_file = Some(secret_file.display().to_string());
    let mut settings = NotifySettings::default();
    settings.channels.insert(
        "slack".into(),
        channel(ChannelKind::Slack, &format!("{base}/slack")),
    );
    settings.channels.insert(
        "discord".into(),
        channel(ChannelKind::Discord, &format!("{base}/discord")),
    );
    let mut wh = channel(ChannelKind::Webhook, &format!("{base}/hook"));
    wh.secret_file.clone_from(&secret_file);
    wh.headers.insert("X-Team".into(), "platform".into());
    settings.channels.insert("hook".into(), wh);
    let mut pd = channel(ChannelKind::Pagerduty, &format!("{base}/pd"));
    pd.secret_file.clone_from(&secret_file);
    settings.channels.insert("pd".into(), pd);
    settings.channels.insert(
        "dead".into(),
        channel(ChannelKind::Webhook, &format!("{base}/dead")),
    );
    let mut slow = channel(ChannelKind::Webhook, &format!("{base}/slow"));
    slow.timeout_ms = Some(300);
    settings.channels.insert("slow".into(), slow);
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    enqueue(&store, &["slack", "discord", "hook", "pd", "dead", "slow"]);
    let n = Notifier::start(store.clone(), &channels, fast());

    let st = store.clone();
    wait_until(
        move || st.outbox_list(OutboxStatus::Delivered, 100).unwrap().len() == 4,
        20,
    )
    .await;
    let st = store.clone();
    wait_until(
        move || st.outbox_list(OutboxStatus::Failed, 100).unwrap().len() == 2,
        20,
    )
    .await;
    assert!(n.drain(Duration::from_secs(5)).await);

    let got = srv.got.lock().unwrap();
    let bodies = |p: &str| -> Vec<serde_json::Value> {
        got.iter()
            .filter(|(q, _, _)| q == p)
            .map(|(_, _, b)| serde_json::from_slice(b).unwrap())
            .collect()
    };
    // Slack: one 500, then the same bytes again.
    let slack = bodies("slack");
    assert_eq!(slack.len(), 2);
    assert_eq!(slack[0], slack[1]);
    assert_eq!(slack[0]["blocks"][0]["type"], "header");
    assert!(
        slack[0]["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("HIGH attribute_drift aws_security_group.web")
    );
    assert!(slack[0].to_string().contains("0.0.0.0/0"));
    assert!(slack[0].to_string().contains("seen 2 more"));
    // Discord: an embed coloured by severity.
    let discord = bodies("discord");
    assert_eq!(
        discord[0]["embeds"][0]["color"],
        tfdrift::notify::discord::colour(tfdrift::alert::Severity::High)
    );
    // Webhook: the alert JSON, HMAC over the exact body, custom header.
    let (_, h, body) = got.iter().find(|(q, _, _)| q == "hook").unwrap();
    // Signed over "<timestamp>.<body>", the timestamp in its own header.
    let ts = h["x-tfdrift-timestamp"].to_str().unwrap();
    assert_eq!(
        h["x-tfdrift-signature"].to_str().unwrap(),
        webhook::signature(
            b"s3cret",
            &webhook::signed_message(ts.parse().unwrap(), body)
        )
    );
    assert!(webhook::verify(
        b"s3cret",
        body,
        ts,
        h["x-tfdrift-signature"].to_str().unwrap(),
        chrono::Utc::now().timestamp(),
        webhook::DEFAULT_TOLERANCE_SECS
    ));
    assert_eq!(h["x-team"], "platform");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["schema"], "tfdrift.alert/v1");
    assert_eq!(v["repeats"], 2);
    // PagerDuty: a 429 with Retry-After: 1, then accepted; dedup_key is the fingerprint.
    let pd: Vec<_> = got.iter().filter(|(q, _, _)| q == "pd").collect();
    assert_eq!(pd.len(), 2);
    let v: serde_json::Value = serde_json::from_slice(&pd[1].2).unwrap();
    assert_eq!(v["event_action"], "trigger");
    assert_eq!(v["routing_key"], "s3cret");
    assert_eq!(
        v["dedup_key"],
        "attribute_drift:aws_security_group:sg-0123456789abcdef0"
    );
    assert_eq!(v["payload"]["severity"], "error");
    // Dead channel: exactly max_attempts tries, then failed with a redacted error.
    assert_eq!(got.iter().filter(|(q, _, _)| q == "dead").count(), 3);
    drop(got);
    let failed = store.outbox_list(OutboxStatus::Failed, 100).unwrap();
    let dead = failed.iter().find(|e| e.channel == "dead").unwrap();
    assert!(dead.last_error.as_deref().unwrap().contains("HTTP 503"));
    assert!(
        !dead.last_error.as_deref().unwrap().contains("/dead"),
        "URL path leaked: {:?}",
        dead.last_error
    );
    let slow = failed.iter().find(|e| e.channel == "slow").unwrap();
    assert!(
        slow.last_error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        slow.last_error
    );
    let snap = n.stats.snapshot();
    assert_eq!(snap["dead"].failed, 1);
    assert_eq!(snap["slack"].sent, 1);
    assert_eq!(snap["slack"].retried, 1);
    // `notify retry` path: failed items go back to pending.
    assert_eq!(
        store
            .outbox_retry_failed(Some("dead"), chrono::Utc::now())
            .unwrap(),
        1
    );
    assert_eq!(
        store.outbox_list(OutboxStatus::Pending, 10).unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_sends_one_digest() {
    let (srv, base) = start_server().await;
    let mut settings = NotifySettings::default();
    let mut c = channel(ChannelKind::Slack, &format!("{base}/rl"));
    c.rate_limit = Some(tfdrift::notify::settings::RateLimit {
        per_minute: 60,
        burst: Some(2),
    });
    settings.channels.insert("rl".into(), c);
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).unwrap());
    for _ in 0..7 {
        enqueue(&store, &["rl"]);
    }
    let n = Notifier::start(store.clone(), &channels, fast());
    let st = store.clone();
    wait_until(
        move || st.outbox_list(OutboxStatus::Delivered, 100).unwrap().len() == 7,
        20,
    )
    .await;
    assert!(n.drain(Duration::from_secs(5)).await);
    let got = srv.got.lock().unwrap();
    // Two within the burst, then one digest for the five held back.
    assert_eq!(
        got.len(),
        3,
        "{:?}",
        got.iter()
            .map(|g| String::from_utf8_lossy(&g.2).to_string())
            .collect::<Vec<_>>()
    );
    let digest: serde_json::Value = serde_json::from_slice(&got[2].2).unwrap();
    assert!(
        digest["text"]
            .as_str()
            .unwrap()
            .starts_with("5 drift alerts held back")
    );
    assert_eq!(n.stats.snapshot()["rl"].digests, 1);
}
