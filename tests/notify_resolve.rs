//! PagerDuty resolve: acknowledging or resolving an alert (the store's ack, as the UI and
//! `tfdrift alerts ack|resolve` do it) enqueues a `resolve` with the trigger's `dedup_key` for
//! the PagerDuty channels that were sent the trigger, in the ack's transaction; the worker
//! delivers it to a real HTTP server. Other channels get nothing; a reopen resolves nothing; a
//! second ack does not resolve twice.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Notifier, NotifyRouter, NotifySettings, sample_alert};
use tfdrift::pipeline::engine::OutboxRouter as _;
use tfdrift::rules::RuleSet;
use tfdrift::store::{NOTE_REOPENED, OutboxStatus, SqliteStore, Store, Target, fingerprint};

type Got = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

async fn server() -> (Got, String) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/{p}",
        axum::routing::post(
            move |axum::extract::Path(p): axum::extract::Path<String>, body: String| {
                let g = g.clone();
                async move {
                    g.lock()
                        .unwrap()
                        .push((p, serde_json::from_str(&body).unwrap()));
                    (axum::http::StatusCode::ACCEPTED, "{\"status\":\"success\"}")
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (got, base)
}

async fn deliver(store: &Arc<dyn Store>, channels: &Channels) {
    let n = Notifier::start(
        store.clone(),
        channels,
        WorkerConfig {
            poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        },
    );
    assert!(n.drain(Duration::from_secs(20)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_and_resolve_resolve_the_pagerduty_incident() {
    let (got, base) = server().await;
    let settings: NotifySettings = serde_saphyr::from_str(&format!(
        "channels:\n  pager: {{type: pagerduty, url: \"{base}/pd\", secret_file: \"{key}\"}}\n  chat: {{type: slack, url: \"{base}/slack\"}}\ndefaults: [pager, chat]\n",
        key = write_key().display()
    ))
    .unwrap();
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());
    let router = NotifyRouter::new(channels.clone(), &RuleSet::empty(), Duration::from_mins(5));
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());

    let a = sample_alert();
    let items = router.route(&a);
    assert!(
        store
            .record_alerts(&[&a.event.id], None, std::slice::from_ref(&a), &items)
            .unwrap()
    );
    deliver(&store, &channels).await;
    {
        let g = got.lock().unwrap();
        let pd: Vec<_> = g.iter().filter(|(p, _)| p == "pd").collect();
        assert_eq!(pd.len(), 1);
        assert_eq!(pd[0].1["event_action"], "trigger");
        assert_eq!(pd[0].1["dedup_key"], fingerprint(&a).as_str());
        assert_eq!(g.iter().filter(|(p, _)| p == "slack").count(), 1);
    }

    // A reopen resolves nothing.
    store
        .ack(
            &Target::Alert(a.id.clone()),
            "alice",
            Some(NOTE_REOPENED),
            chrono::Utc::now(),
        )
        .unwrap();
    assert!(
        store
            .outbox_list(OutboxStatus::Pending, 10)
            .unwrap()
            .is_empty()
    );

    // The acknowledgement enqueues exactly one resolve, for the PagerDuty channel only.
    store
        .ack(
            &Target::Alert(a.id.clone()),
            "alice",
            Some("ack"),
            chrono::Utc::now(),
        )
        .unwrap();
    let pending = store.outbox_list(OutboxStatus::Pending, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].channel, "pager");
    assert_eq!(pending[0].alert_id, a.id);
    // Resolving afterwards does not resolve twice.
    store
        .ack(
            &Target::Alert(a.id.clone()),
            "alice",
            Some("resolved"),
            chrono::Utc::now(),
        )
        .unwrap();
    assert_eq!(
        store.outbox_list(OutboxStatus::Pending, 10).unwrap().len(),
        1
    );

    deliver(&store, &channels).await;
    let g = got.lock().unwrap();
    let pd: Vec<_> = g
        .iter()
        .filter(|(p, _)| p == "pd")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(pd.len(), 2, "trigger then resolve: {pd:?}");
    assert_eq!(pd[1]["event_action"], "resolve");
    assert_eq!(pd[1]["dedup_key"], pd[0]["dedup_key"]);
    assert_eq!(pd[1]["routing_key"], "R0UTINGKEY");
    assert_eq!(
        g.iter().filter(|(p, _)| p == "slack").count(),
        1,
        "chat is not resolved"
    );
    assert_eq!(
        store
            .outbox_list(OutboxStatus::Delivered, 10)
            .unwrap()
            .len(),
        3
    );
}

/// An alert whose PagerDuty trigger was filtered out (below the channel's minimum severity)
/// gets no resolve either.
#[test]
fn no_trigger_no_resolve() {
    let settings: NotifySettings = serde_saphyr::from_str(&format!(
        "channels:\n  pager: {{type: pagerduty, url: \"http://127.0.0.1:9/\", secret_file: \"{}\", min_severity: critical}}\ndefaults: [pager]\n",
        write_key().display()
    ))
    .unwrap();
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());
    let router = NotifyRouter::new(channels, &RuleSet::empty(), Duration::from_mins(5));
    let store = SqliteStore::open(std::path::Path::new(":memory:")).unwrap();
    let a = sample_alert(); // high
    let items = router.route(&a);
    assert!(items.is_empty());
    store
        .record_alerts(&[&a.event.id], None, std::slice::from_ref(&a), &items)
        .unwrap();
    store
        .ack(
            &Target::Alert(a.id.clone()),
            "bob",
            Some("resolved"),
            chrono::Utc::now(),
        )
        .unwrap();
    assert!(
        store
            .outbox_list(OutboxStatus::Pending, 10)
            .unwrap()
            .is_empty()
    );
}

fn write_key() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("tfdrift-pd-key-{}", std::process::id()));
    std::fs::write(&p, "R0UTINGKEY\n").unwrap();
    p
}

/// An acknowledgement by fingerprint (every alert of that drift) resolves through any of them.
#[test]
fn fingerprint_ack_resolves_once_per_alert_and_channel() {
    let settings: NotifySettings = serde_saphyr::from_str(&format!(
        "channels:\n  pager: {{type: pagerduty, url: \"http://127.0.0.1:9/\", secret_file: \"{}\"}}\ndefaults: [pager]\n",
        write_key().display()
    ))
    .unwrap();
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());
    let router = NotifyRouter::new(channels, &RuleSet::empty(), Duration::ZERO);
    let store = SqliteStore::open(std::path::Path::new(":memory:")).unwrap();
    let a = sample_alert();
    let mut b = sample_alert();
    b.id = "tfd-second".into();
    b.event.id = "second-event".into();
    for x in [&a, &b] {
        let items = router.route(x);
        assert_eq!(items.len(), 1);
        store
            .record_alerts(&[&x.event.id], None, std::slice::from_ref(x), &items)
            .unwrap();
    }
    store
        .ack(
            &Target::Fingerprint(fingerprint(&a)),
            "bob",
            Some("ack"),
            chrono::Utc::now(),
        )
        .unwrap();
    let mut resolves: Vec<_> = store
        .outbox_list(OutboxStatus::Pending, 10)
        .unwrap()
        .into_iter()
        .filter(|e| e.payload.contains("\"resolve\""))
        .map(|e| e.alert_id)
        .collect();
    resolves.sort();
    let mut want = [a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(resolves, want);
}
