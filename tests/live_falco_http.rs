//! Falco `http_output` receiver: a real HTTP client posts recorded-shape Falco alerts
//! (cloudtrail and gcpaudit plugins) to the receiver running inside the live pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::live_support;

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
    start_with(dir, token, store, |s| s.max_body_bytes = max_body).await
}

async fn start_with(
    dir: &std::path::Path,
    token: bool,
    store: bool,
    tune: impl FnOnce(&mut FalcoHttpSettings),
) -> (PipelineHandle, String) {
    let port = free_port();
    let token_file = token.then(|| {
        let p = dir.join("token");
        std::fs::write(&p, format!("{TOKEN}\n")).unwrap();
        p
    });
    let store: Option<Arc<dyn tfdrift::store::Store>> =
        store.then(|| Arc::new(tfdrift::store::open(&dir.join("store.db")).unwrap()) as _);
    let mut settings = FalcoHttpSettings {
        listen: format!("127.0.0.1:{port}"),
        token_file,
        ..FalcoHttpSettings::default()
    };
    tune(&mut settings);
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::FalcoHttp(settings)],
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
    // No pooled connection: an idle keep-alive one would count against a test's connection cap.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
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

    // The scheme is case-insensitive (RFC 7235 §2.1): `bearer` works as `Bearer` does.
    let r = post(serde_json::to_vec(&falco_ct("ct-lower")).unwrap())
        .header("authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // An encoding the receiver does not read (brotli) is refused, not read as plain text.
    let r = post(serde_json::to_vec(&falco_ct("ct-br")).unwrap())
        .header("content-encoding", "br")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "{}", r.text().await.unwrap());

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

    let expected = 2 + 1 + 1 + 2 + burst;
    let alerts = drain(&mut handle, expected).await;
    assert_eq!(alerts.len(), expected, "one alert per distinct event");
    let ids: std::collections::BTreeSet<_> = alerts.iter().map(|a| a.event.id.clone()).collect();
    assert_eq!(ids.len(), expected, "no duplicate alerts");
    assert!(ids.contains("ct-0001") && ids.contains("ct-gz") && ids.contains("ct-burst-299"));
    assert!(
        alerts.iter().any(|a| a.provider == "gcp"),
        "gcpaudit alert raised"
    );
    assert!(!ids.contains("ct-unauth") && !ids.contains("ct-br"));
    assert!(ids.contains("ct-lower"));

    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.duplicates, 1, "{stats:?}");
    let h = stats.sources.values().next().expect("falco source health");
    assert_eq!(h.kind, "falco_http");
    assert!(
        h.connected && h.events >= 307 && h.last_event.is_some(),
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

/// Group commit with durable answers: while the store is busy (another connection holds
/// SQLite's write lock), the engine's first commit waits, no POST is answered, and everything
/// posted meanwhile gathers; once the lock goes, the backlog is recorded in a few transactions
/// (not one per alert), every POST is answered 200 only then, and each alert's history counts
/// the earlier alerts of its own group, not yet committed when it was enriched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_recorded_in_one_transaction_with_history_across_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (mut handle, base) = start(dir.path(), false, true, 64 * 1024).await;
    let blocker = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let client = reqwest::Client::new();
    let n = 100;
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut posts = Vec::new();
    for i in 0..n {
        let (client, base, answered) = (client.clone(), base.clone(), answered.clone());
        posts.push(tokio::spawn(async move {
            let r = client
                .post(&base)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&falco_ct(&format!("grp-{i:03}"))).unwrap())
                .send()
                .await
                .unwrap();
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            r.status()
        }));
    }
    // Time for the POSTs to reach the receiver (a late one only makes one more commit).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        answered.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no POST is answered before its alert is recorded"
    );
    assert!(
        handle.alerts.try_recv().is_err(),
        "no alert is delivered before it is recorded"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    for p in posts {
        assert_eq!(p.await.unwrap(), 200);
    }

    let alerts = drain(&mut handle, n).await;
    assert_eq!(alerts.len(), n);
    let ids: std::collections::BTreeSet<_> = alerts.iter().map(|a| a.event.id.as_str()).collect();
    assert_eq!(ids.len(), n, "each alert once");
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
        (1..10).contains(&stats.store_commits),
        "the first group (what the engine held when the store blocked) and the backlog, not \
         one commit per POST: {stats:?}"
    );
    let store = tfdrift::store::open(&dir.path().join("store.db")).unwrap();
    for a in &alerts {
        let stored = tfdrift::store::Store::alert(&store, &a.id).unwrap();
        assert!(stored.is_some(), "{} recorded", a.id);
    }
}

/// Reads until the server closes the connection; false when it is still open after `limit`.
fn closed_within(s: &std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read as _;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut s = s;
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// Reads the status line of whatever the server answers (empty when it only closes).
fn status_line(s: &mut std::net::TcpStream, limit: Duration) -> String {
    use std::io::Read as _;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while !out.contains(&b'\n') {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Slowloris: 300 connections that send half a request header and then nothing (no token
/// needed to open them) must not starve the receiver: a valid POST and `/healthz` still answer,
/// and the half-open connections are closed after the header timeout. A POST without the token
/// is refused before its body is read; a body that never comes is answered 408; connections
/// over the cap are answered 503 at once. Every refusal is counted in the source's health.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_starve_the_receiver() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let (handle, base) = start_with(dir.path(), true, false, |s| {
        s.header_timeout_ms = 1000;
        s.body_timeout_ms = 1000;
        s.max_connections = 400;
    })
    .await;
    let addr = base.trim_start_matches("http://").to_string();
    let slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST / HTTP/1.1\r\nHost: falco\r\nContent-Ty")
                .unwrap();
            s
        })
        .collect();
    // No pooled connections (an idle one is closed after the 1 s header timeout; see below).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = client
        .post(&base)
        .header("content-type", "application/json")
        .bearer_auth(TOKEN)
        .body(serde_json::to_vec(&falco_ct("ct-among-slow")).unwrap())
        .send()
        .await
        .expect("a valid POST is answered while 300 clients stall");
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("/healthz is answered while 300 clients stall");
    assert_eq!(r.status(), 200);

    // Without the token: refused at once, though the announced body never comes.
    let mut unauth = std::net::TcpStream::connect(&addr).unwrap();
    unauth
        .write_all(b"POST / HTTP/1.1\r\nHost: falco\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{")
        .unwrap();
    // With the token, but the body stalls: 408 after the body timeout.
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(format!("POST / HTTP/1.1\r\nHost: falco\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"rule\"").as_bytes())
        .unwrap();
    let line =
        tokio::task::spawn_blocking(move || status_line(&mut unauth, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(line.contains(" 401 "), "{line:?}");
    let line =
        tokio::task::spawn_blocking(move || status_line(&mut stalled, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(line.contains(" 408 "), "{line:?}");

    // The half-open connections are closed by the header timeout (1 s; 20 s of patience).
    let closed = tokio::task::spawn_blocking(move || {
        slow.iter()
            .filter(|s| closed_within(s, Duration::from_secs(20)))
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 300, "every stalled connection was closed");

    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    let h = stats.sources.values().next().expect("falco source health");
    assert!(h.connections_timed_out >= 301, "{h:?}");
    assert!(h.unauthorized >= 1, "{h:?}");
    assert_eq!(
        stats.parsed, 1,
        "only the valid POST reached the engine: {stats:?}"
    );

    // Over the cap (20 open, a header timeout long enough that none of them ends meanwhile):
    // the extra connections are answered 503 at once, and counted.
    let dir = tempfile::tempdir().unwrap();
    let (handle, base) = start_with(dir.path(), false, false, |s| {
        s.header_timeout_ms = 120_000;
        s.max_connections = 20;
    })
    .await;
    let addr = base.trim_start_matches("http://").to_string();
    // The /healthz poll of `start_with` must have closed first: were it still open, one of the
    // 20 would be refused at the cap, and its close would leave 19 open (seen under CI load).
    // The counters are republished about once a second, so only a snapshot taken after two
    // updates since the poll (one may have been filled before it) can say it is closed.
    let mut updates = handle.stats.clone();
    updates.mark_unchanged();
    let mut fresh = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::time::timeout(Duration::from_millis(50), updates.changed())
            .await
            .is_ok()
        {
            fresh += 1;
        }
        let open = handle
            .stats
            .borrow()
            .sources
            .values()
            .next()
            .map(|h| h.connections_open);
        if fresh >= 2 && open == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the /healthz poll's connection stays open: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    // Until the 20 are the open connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open = handle
            .stats
            .borrow()
            .sources
            .values()
            .next()
            .map(|h| h.connections_open);
        if open == Some(20) {
            break;
        }
        assert!(Instant::now() < deadline, "open connections: {open:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            (0..5)
                .map(|_| {
                    let mut s = std::net::TcpStream::connect(&addr).unwrap();
                    status_line(&mut s, Duration::from_secs(20))
                })
                .collect::<Vec<_>>()
        }
    })
    .await
    .unwrap();
    assert!(refused.iter().all(|l| l.contains(" 503 ")), "{refused:?}");
    drop(held);
    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    let h = stats.sources.values().next().expect("falco source health");
    assert!(h.connections_refused >= 5, "{h:?}");
}

/// The metrics endpoint keeps answering while clients stall, and closes them after the header
/// timeout; its counters show the timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_starve_the_metrics_endpoint() {
    use std::io::Write as _;
    use tfdrift::collect::listener::ListenLimits;
    use tfdrift::notify::metrics::{MetricsState, serve_with};
    let (_tx, stats) = tokio::sync::watch::channel(tfdrift::pipeline::Stats::default());
    let state = MetricsState {
        stats,
        notify: None,
        store: None,
        deduped: None,
        token: Some("m3trics".into()),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let limits = ListenLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections: 400,
    };
    let addr = serve_with("127.0.0.1:0", state, limits, stop.clone())
        .await
        .unwrap();
    let slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nAuthoriz")
                .unwrap();
            s
        })
        .collect();
    // No pooled connections: the server closes an idle keep-alive connection after the header
    // timeout (1 s), and a request sent on it as it closes fails (IncompleteMessage, seen in CI).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("/healthz is answered while 300 clients stall");
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("http://{addr}/metrics"))
        .header("authorization", "bearer m3trics")
        .send()
        .await
        .expect("/metrics is answered while 300 clients stall");
    assert_eq!(r.status(), 200, "lowercase bearer scheme accepted");
    let closed = tokio::task::spawn_blocking(move || {
        slow.iter()
            .filter(|s| closed_within(s, Duration::from_secs(20)))
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 300, "every stalled connection was closed");
    let body = client
        .get(format!("http://{addr}/metrics"))
        .bearer_auth("m3trics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let timed_out: u64 = body
        .lines()
        .find(|l| l.starts_with("tfdrift_metrics_connections_timed_out_total "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no timeout counter in\n{body}"));
    assert!(timed_out >= 300, "{body}");
    stop.cancel();
}
