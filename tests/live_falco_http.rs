//! Falco `http_output` receiver: a real HTTP client posts recorded-shape Falco alerts
//! (cloudtrail and gcpaudit plugins) to the receiver running inside the live pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod live_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use live_support::{falco_ct, falco_gcp, free_port, gzip};
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::falco_http::FalcoHttpSettings;
use tfdrift::pipeline::{PipelineConfig, PipelineHandle, spawn};
use tfdrift::state::StateIndex;

const TOKEN: &str = "s3cr3t-token";

async fn start(
    dir: &std::path::Path,
    token: bool,
    store: bool,
    max_body: usize,
) -> (PipelineHandle, String) {
    let port = free_port();
    let token_file = token.then(|| {
        let p = dir.join("token");
        std::fs::write(&p, format!("{TOKEN}\n")).unwrap();
        p
    });
    let store: Option<Arc<dyn tfdrift::store::Store>> =
        store.then(|| Arc::new(tfdrift::store::open(&dir.join("store.db")).unwrap()) as _);
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::FalcoHttp(FalcoHttpSettings {
            listen: format!("127.0.0.1:{port}"),
            token_env: None,
            token_file,
            max_body_bytes: max_body,
        })],
        store,
        ..PipelineConfig::default()
    };
    let handle = spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "receiver did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (handle, base)
}

async fn drain(handle: &mut PipelineHandle, n: usize) -> Vec<tfdrift::alert::Alert> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), handle.alerts.recv()).await {
            Ok(Some(a)) => out.push(a),
            _ => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falco_http_receives_alerts_with_auth_limits_gzip_and_burst() {
    let dir = tempfile::tempdir().unwrap();
    let (mut handle, base) = start(dir.path(), true, true, 64 * 1024).await;
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        client
            .post(&base)
            .header("content-type", "application/json")
            .header("user-agent", "falcosecurity/falco")
            .body(body)
    };

    // One alert per POST, as Falco's http_output sends them.
    let ct = serde_json::to_vec(&falco_ct("ct-0001")).unwrap();
    let r = post(ct.clone()).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post(serde_json::to_vec(&falco_gcp()).unwrap())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Without the token, or with a wrong one: 401, nothing reaches the pipeline.
    let ct_other = serde_json::to_vec(&falco_ct("ct-unauth")).unwrap();
    let r = post(ct_other.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(ct_other).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // A huge body: 413 (raw, and after gunzip).
    let huge = vec![b' '; 200 * 1024];
    let r = post(huge.clone()).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = post(gzip(&huge))
        .header("content-encoding", "gzip")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // Plain text (Falco without json_output) is refused.
    let r = client
        .post(&base)
        .header("content-type", "text/plain")
        .bearer_auth(TOKEN)
        .body("14:11:38: Notice SG ingress changed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Gzip-encoded body and a JSON-lines body with two alerts.
    let r = post(gzip(&serde_json::to_vec(&falco_ct("ct-gz")).unwrap()))
        .header("content-encoding", "gzip")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = format!("{}\n{}\n", falco_ct("ct-l1"), falco_ct("ct-l2"));
    let r = post(lines.into_bytes())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().trim(), r#"{"accepted":2}"#);

    // A concurrent burst; plus a duplicate of the first alert (deduplicated by event id).
    let burst = 300;
    let mut tasks = Vec::new();
    for i in 0..burst {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let body = serde_json::to_vec(&falco_ct(&format!("ct-burst-{i}"))).unwrap();
            client
                .post(&base)
                .header("content-type", "application/json")
                .bearer_auth(TOKEN)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let r = post(ct).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let expected = 2 + 1 + 2 + burst;
    let alerts = drain(&mut handle, expected).await;
    assert_eq!(alerts.len(), expected, "one alert per distinct event");
    let ids: std::collections::BTreeSet<_> = alerts.iter().map(|a| a.event.id.clone()).collect();
    assert_eq!(ids.len(), expected, "no duplicate alerts");
    assert!(ids.contains("ct-0001") && ids.contains("ct-gz") && ids.contains("ct-burst-299"));
    assert!(
        alerts.iter().any(|a| a.provider == "gcp"),
        "gcpaudit alert raised"
    );
    assert!(!ids.contains("ct-unauth"));

    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.duplicates, 1, "{stats:?}");
    let h = stats.sources.values().next().expect("falco source health");
    assert_eq!(h.kind, "falco_http");
    assert!(
        h.connected && h.events >= 306 && h.last_event.is_some(),
        "{h:?}"
    );
}

/// A load of 20,000 alerts from 32 concurrent connections into the engine (no store): every one
/// comes out once. (Speed is measured by `benches/live_falco.rs`, not here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falco_http_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let (mut handle, base) = start(dir.path(), false, false, 64 * 1024).await;
    let client = reqwest::Client::new();
    let total = 20_000usize;
    let conns = 32usize;
    let bodies: Vec<Vec<u8>> = (0..total)
        .map(|i| serde_json::to_vec(&falco_ct(&format!("tp-{i}"))).unwrap())
        .collect();
    let bodies = Arc::new(bodies);
    let collector = tokio::spawn(async move {
        let mut n = 0;
        while n < total {
            match tokio::time::timeout(Duration::from_secs(30), handle.alerts.recv()).await {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
        }
        (n, handle)
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (client, base, bodies) = (client.clone(), base.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..total).step_by(conns) {
                let r = client
                    .post(&base)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (n, handle) = collector.await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / secs;
    eprintln!("falco_http load: {n} alerts in {secs:.2} s = {rate:.0} alerts/s");
    assert_eq!(n, total);
    handle.cancel();
    handle.join().await;
}

/// Group commit: while the store is busy (another connection holds SQLite's write lock), the
/// engine's first commit waits and everything posted meanwhile queues up; once the lock goes,
/// the whole backlog is recorded in ONE more transaction (not one per alert), in order, and
/// each alert's history counts the earlier alerts of its own group, not yet committed when it
/// was enriched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_recorded_in_one_transaction_with_history_across_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (mut handle, base) = start(dir.path(), false, true, 64 * 1024).await;
    let blocker = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let client = reqwest::Client::new();
    let n = 100;
    for i in 0..n {
        // Each POST answers once its alert is queued for the engine.
        let r = client
            .post(&base)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&falco_ct(&format!("grp-{i:03}"))).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        handle.alerts.try_recv().is_err(),
        "no alert is delivered before it is recorded"
    );
    blocker.execute_batch("ROLLBACK").unwrap();

    let alerts = drain(&mut handle, n).await;
    assert_eq!(alerts.len(), n);
    let ids: Vec<_> = alerts.iter().map(|a| a.event.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "delivered in arrival order");
    // Every alert is on the same security group: the k-th counts the k-1 before it, whether
    // they were committed (the first group) or only staged with it (the second).
    for (k, a) in alerts.iter().enumerate() {
        let h = &a.enrichment.history;
        assert_eq!(
            h.days.iter().sum::<u32>() as usize,
            k,
            "history of alert {k}"
        );
        assert_eq!(h.recent.len(), k.min(10), "recent changes of alert {k}");
        if let Some(newest) = h.recent.first() {
            assert_eq!(
                newest.alert_id,
                alerts[k - 1].id,
                "newest earlier change first"
            );
        }
    }
    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.store_errors, 0, "{stats:?}");
    assert_eq!(stats.alerts, n as u64);
    assert!(
        (1..=2).contains(&stats.store_commits),
        "at most the first group (what the engine held when the store blocked) and the \
         backlog, not one commit per alert: {stats:?}"
    );
    let store = tfdrift::store::open(&dir.path().join("store.db")).unwrap();
    for a in &alerts {
        let stored = tfdrift::store::Store::alert(&store, &a.id).unwrap();
        assert!(stored.is_some(), "{} recorded", a.id);
    }
}
