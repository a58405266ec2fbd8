//! The outbox survives `kill -9` between write and send: a child process routes and records an
//! alert (the outbox item in the alert's transaction), reports it, and is killed before any
//! worker runs; a fresh worker over the same database then delivers it to a real HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tfdrift::notify::settings::ChannelSettings;
use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Notifier, NotifyRouter, NotifySettings, sample_alert};
use tfdrift::pipeline::engine::OutboxRouter as _;
use tfdrift::rules::RuleSet;
use tfdrift::store::{OutboxStatus, SqliteStore, Store};

const CHILD_ENV: &str = "TFDRIFT_NOTIFY_KILL9_DB";

fn settings(url: &str) -> NotifySettings {
    let cs: ChannelSettings =
        serde_saphyr::from_str(&format!("type: webhook\nurl: {url}\n")).unwrap();
    let mut s = NotifySettings::default();
    s.channels.insert("hook".into(), cs);
    s.defaults = vec!["hook".into()];
    s
}

#[test]
fn outbox_survives_kill_9_between_write_and_send() {
    if let Ok(db) = std::env::var(CHILD_ENV) {
        // Child: record, report, then hang until killed (never sends).
        let store = SqliteStore::open(std::path::Path::new(&db)).unwrap();
        let channels = Arc::new(Channels::from_settings(&settings("http://127.0.0.1:9/")).unwrap());
        let router = NotifyRouter::new(channels, &RuleSet::empty(), Duration::from_mins(5));
        let a = sample_alert();
        let items = router.route(&a);
        assert_eq!(items.len(), 1);
        assert!(
            store
                .record_alerts(&[&a.event.id], None, std::slice::from_ref(&a), &items)
                .unwrap()
        );
        println!("recorded {}", a.id);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &crate::common::harness_name(
                module_path!(),
                "outbox_survives_kill_9_between_write_and_send",
            ),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !line.contains("recorded ") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child exited before recording"
        );
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let g = g.clone();
                async move {
                    g.lock().unwrap().push(body);
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        let store = Arc::new(SqliteStore::open(&db).unwrap());
        assert_eq!(
            store.outbox_list(OutboxStatus::Pending, 10).unwrap().len(),
            1
        );
        let channels = Arc::new(Channels::from_settings(&settings(&url)).unwrap());
        let cfg = WorkerConfig {
            poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        };
        let n = Notifier::start(store.clone(), &channels, cfg);
        assert!(n.drain(Duration::from_secs(10)).await);
        assert_eq!(
            store
                .outbox_list(OutboxStatus::Delivered, 10)
                .unwrap()
                .len(),
            1
        );
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("tfd-test-notification"));
    });
}
