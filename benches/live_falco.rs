//! Falco ingest throughput, end to end: recorded-shape alerts (cloudtrail plugin) from a local
//! client into the live pipeline (receiver → engine with an on-disk store → alert stream). The
//! alerts are spread over 1,000 security groups.
//!
//! - `falco_http`: 32 concurrent keep-alive reqwest clients POST one alert per request (Falco's
//!   `http_output`) to the receiver; the clock stops when the last alert leaves the pipeline.
//! - `baseline_http`: the same clients and bodies against a trivial axum handler that reads the
//!   body and answers 200, i.e. the cost of HTTP on this machine; the receiver's own cost is the
//!   difference.
//! - `falco_http_nostore`: the same without the store (what the store costs the engine).
//! - `falco_grpc`: a tonic server implementing Falco's `outputs.proto` streams the same alerts
//!   to the `falco_grpc` source.
//!
//! `cargo bench --bench live_falco` prints the median alerts/s of several runs per case.
//! Without `--bench` (as `cargo test --all-targets` runs it) it does one tiny smoke run per case.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/live_support/mod.rs"]
mod live_support;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use live_support::{falco_ct, free_port};
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::falco_grpc::FalcoGrpcSettings;
use tfdrift::collect::falco_grpc::proto::falco::outputs::{
    Request as FalcoRequest, Response as FalcoResponse,
    service_server::{Service, ServiceServer},
};
use tfdrift::collect::falco_http::FalcoHttpSettings;
use tfdrift::pipeline::{PipelineConfig, PipelineHandle, spawn};
use tfdrift::state::StateIndex;
use tokio_stream::Stream;
use tonic::{Status, Streaming};

const CONNS: usize = 32;

/// Distinct security groups the alerts are spread over (a busy account: many resources, each
/// changed a few dozen times per run, so the enrichment's history lookups do real work).
const GROUPS: usize = 1000;

/// The pipeline with an on-disk store (WAL, `synchronous=FULL`, as the daemon runs) in `dir`.
fn pipeline(source: SourceSpec, store_dir: Option<&std::path::Path>) -> PipelineHandle {
    let store = store_dir.map(|d| {
        Arc::new(tfdrift::store::open(&d.join("store.db")).unwrap())
            as Arc<dyn tfdrift::store::Store>
    });
    let cfg = PipelineConfig {
        sources: vec![source],
        store,
        ..PipelineConfig::default()
    };
    spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap()
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "listener on {port} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Posts every body from `CONNS` concurrent tasks sharing one keep-alive client pool.
async fn post_all(url: &str, bodies: &Arc<Vec<Vec<u8>>>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNS)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let (client, url, bodies) = (client.clone(), url.to_string(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..bodies.len()).step_by(CONNS) {
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone())
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Waits for `n` alerts; panics if the pipeline stalls.
async fn collect(handle: &mut PipelineHandle, n: usize) {
    for got in 0..n {
        match tokio::time::timeout(Duration::from_mins(1), handle.alerts.recv()).await {
            Ok(Some(_)) => {}
            _ => panic!("pipeline stalled after {got} of {n} alerts"),
        }
    }
}

/// The cloudtrail plugin's alert for event `id`, on one of [`GROUPS`] security groups.
fn alert(id: &str, i: usize) -> serde_json::Value {
    let mut v = falco_ct(id);
    v["output_fields"]["ct.request"] =
        serde_json::json!(format!("{{\"groupId\":\"sg-{:017x}\"}}", i % GROUPS));
    v
}

fn bodies(run: usize, n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|i| serde_json::to_vec(&alert(&format!("bench-{run}-{i}"), i)).unwrap())
            .collect(),
    )
}

async fn run_http(run: usize, n: usize, with_store: bool) -> f64 {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut handle = pipeline(
        SourceSpec::FalcoHttp(FalcoHttpSettings {
            listen: format!("127.0.0.1:{port}"),
            max_body_bytes: 1024 * 1024,
            ..FalcoHttpSettings::default()
        }),
        with_store.then_some(dir.path()),
    );
    wait_listening(port).await;
    let bodies = bodies(run, n);
    let start = Instant::now();
    let url = format!("http://127.0.0.1:{port}/");
    let ((), ()) = tokio::join!(post_all(&url, &bodies), collect(&mut handle, n));
    let secs = start.elapsed().as_secs_f64();
    handle.cancel();
    handle.join().await;
    rate(n, secs)
}

async fn run_baseline(run: usize, n: usize) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app =
        axum::Router::new().fallback(axum::routing::post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body.len()).to_string()
        }));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let bodies = bodies(run, n);
    let start = Instant::now();
    post_all(&format!("http://127.0.0.1:{port}/"), &bodies).await;
    let secs = start.elapsed().as_secs_f64();
    server.abort();
    rate(n, secs)
}

/// Falco's queue: each `request` on `sub` pops everything queued (0.43's behaviour).
#[derive(Clone, Default)]
struct FakeFalco {
    queue: Arc<Mutex<VecDeque<FalcoResponse>>>,
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<FalcoResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Service for FakeFalco {
    type subStream = AlertStream;
    type getStream = AlertStream;

    async fn sub(
        &self,
        req: tonic::Request<Streaming<FalcoRequest>>,
    ) -> Result<tonic::Response<AlertStream>, Status> {
        let mut inbound = req.into_inner();
        let queue = self.queue.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            while let Ok(Some(_)) = inbound.message().await {
                let batch: Vec<_> = queue.lock().unwrap().drain(..).collect();
                for r in batch {
                    if tx.send(Ok(r)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get(
        &self,
        _req: tonic::Request<FalcoRequest>,
    ) -> Result<tonic::Response<AlertStream>, Status> {
        Err(Status::unimplemented("not used"))
    }
}

/// The cloudtrail alert of `falco_ct` as Falco's gRPC output sends it (values stringified).
fn grpc_alert(id: &str, i: usize) -> FalcoResponse {
    let v = alert(id, i);
    let fields = v["output_fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect();
    FalcoResponse {
        time: Some(prost_types::Timestamp {
            seconds: 1_714_572_698,
            nanos: 0,
        }),
        priority: 5,
        rule: "SG ingress changed".into(),
        output: v["output"].as_str().unwrap().into(),
        output_fields: fields,
        hostname: "falco-0".into(),
        tags: vec!["aws".into()],
        source: "aws_cloudtrail".into(),
        ..FalcoResponse::default()
    }
}

async fn run_grpc(run: usize, n: usize) -> f64 {
    let falco = FakeFalco::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
        ServiceServer::new(falco.clone()),
        tokio_stream::wrappers::TcpListenerStream::new(listener),
    ));
    // Queue everything first (Falco's queue), then let the client drain it.
    falco
        .queue
        .lock()
        .unwrap()
        .extend((0..n).map(|i| grpc_alert(&format!("grpc-{run}-{i}"), i)));
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut handle = pipeline(
        SourceSpec::FalcoGrpc(FalcoGrpcSettings {
            address: format!("http://127.0.0.1:{port}"),
            plaintext: true,
            poll_interval_ms: 100,
            ..FalcoGrpcSettings::default()
        }),
        Some(dir.path()),
    );
    collect(&mut handle, n).await;
    let secs = start.elapsed().as_secs_f64();
    handle.cancel();
    handle.join().await;
    server.abort();
    rate(n, secs)
}

#[allow(clippy::cast_precision_loss)]
fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let filter: Option<String> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .filter(|_| bench);
    let (n, runs) = if bench { (40_000, 5) } else { (64, 1) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let wanted = |case: &str| filter.as_deref().is_none_or(|f| case.contains(f));
    for case in [
        "baseline_http",
        "falco_http",
        "falco_http_nostore",
        "falco_grpc",
    ] {
        if !wanted(case) {
            continue;
        }
        let mut rates = Vec::new();
        for run in 0..runs {
            let r = rt.block_on(async {
                match case {
                    "baseline_http" => run_baseline(run, n).await,
                    "falco_http" => run_http(run, n, true).await,
                    "falco_http_nostore" => run_http(run, n, false).await,
                    _ => run_grpc(run, n).await,
                }
            });
            rates.push(r);
        }
        let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "{case:<14} {n} alerts x {runs} runs: median {:.0} alerts/s (runs: {})",
            median(rates),
            all.join(", ")
        );
    }
}
