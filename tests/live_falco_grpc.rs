//! Falco legacy gRPC source: a tonic server built from the same `outputs.proto` serves
//! recorded-shape alerts (cloudtrail plugin `ct.*`, gcpaudit `gcp.*`, every value stringified as
//! Falco does) over plain TCP, a Unix socket and mTLS (certificates made with the `openssl` CLI);
//! the alerts must come out of the live pipeline with the right resource and diff. The server is
//! killed and restarted (the client reconnects), and malformed alerts are counted, not fatal.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::live_support;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use live_support::free_port;
use tfdrift::alert::Alert;
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::falco_grpc::FalcoGrpcSettings;
use tfdrift::collect::falco_grpc::proto::falco::outputs::{
    Request as FalcoRequest, Response as FalcoResponse,
    service_server::{Service, ServiceServer},
};
use tfdrift::collect::falco_grpc::proto::falco::schema::Priority;
use tfdrift::pipeline::{PipelineConfig, PipelineHandle, spawn};
use tfdrift::state::{StateIndex, parse_state};
use tokio_stream::Stream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Status, Streaming};

/// The instance `aws_instance.web` of the demo's state (`t3.micro`), applied by real Terraform.
const STATE: &str = "assets/demo/terraform.tfstate";
const INSTANCE: &str = "i-1cd73cb9f90ce7504";

/// A cloudtrail-plugin alert as Falco's gRPC output sends it: ModifyInstanceAttribute setting
/// the instance type; every field a string, absent ones `"null"`.
fn ct_alert(id: &str, itype: &str) -> FalcoResponse {
    let request = format!(r#"{{"instanceId":"{INSTANCE}","instanceType":{{"value":"{itype}"}}}}"#);
    let fields: [(&str, &str); 13] = [
        ("ct.id", id),
        ("ct.name", "ModifyInstanceAttribute"),
        ("ct.src", "ec2.amazonaws.com"),
        ("ct.shortsrc", "ec2"),
        ("ct.region", "us-east-1"),
        ("ct.error", "null"),
        ("ct.readonly", "false"),
        ("ct.user", "alice"),
        ("ct.user.identitytype", "IAMUser"),
        ("ct.user.arn", "arn:aws:iam::111122223333:user/alice"),
        ("ct.useragent", "aws-cli/2.15.30"),
        ("ct.request", &request),
        ("evt.time", "1714572698000000000"),
    ];
    FalcoResponse {
        time: Some(prost_types::Timestamp {
            seconds: 1_714_572_698,
            nanos: 0,
        }),
        priority: Priority::Notice as i32,
        rule: "EC2 instance modified".into(),
        output: format!("14:11:38.000000000: Notice instance modified (user=alice id={id})"),
        output_fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        hostname: "falco-0".into(),
        tags: vec!["aws".into(), "cloud".into()],
        source: "aws_cloudtrail".into(),
        ..FalcoResponse::default()
    }
}

/// A gcpaudit-plugin alert (bucket made public), stringified.
fn gcp_alert() -> FalcoResponse {
    let fields = [
        ("gcp.user", "alice@example.com"),
        ("gcp.methodName", "storage.setIamPermissions"),
        ("gcp.serviceName", "storage.googleapis.com"),
        ("gcp.resourceName", "projects/_/buckets/my-bucket"),
        ("gcp.storage.bucket", "my-bucket"),
        (
            "gcp.policyDelta",
            r#"[{"action":"ADD","member":"allUsers","role":"roles/storage.objectViewer"}]"#,
        ),
        ("gcp.time", "2024-05-01T14:11:38.123456789Z"),
        ("gcp.location", "null"),
        ("evt.time", "1714572700512000000"),
    ];
    FalcoResponse {
        time: Some(prost_types::Timestamp {
            seconds: 1_714_572_700,
            nanos: 512_000_000,
        }),
        priority: Priority::Critical as i32,
        rule: "GCP bucket public".into(),
        output: "Critical bucket public (user=alice@example.com)".into(),
        output_fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        hostname: "falco-0".into(),
        tags: vec!["gcp".into()],
        source: "gcp_auditlog".into(),
        ..FalcoResponse::default()
    }
}

/// Falco's queue: every `request` on `sub` pops everything queued (as 0.43's server does).
#[derive(Clone, Default)]
struct FakeFalco {
    queue: Arc<Mutex<VecDeque<FalcoResponse>>>,
}

impl FakeFalco {
    fn push(&self, r: FalcoResponse) {
        self.queue.lock().unwrap().push_back(r);
    }
    fn drain(&self) -> Vec<FalcoResponse> {
        self.queue.lock().unwrap().drain(..).collect()
    }
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
        let me = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            while let Ok(Some(_)) = inbound.message().await {
                for r in me.drain() {
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
        let items: Vec<_> = self.drain().into_iter().map(Ok).collect();
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

enum Listen {
    Tcp(u16),
    Unix(PathBuf),
}

/// A Falco stand-in on its own runtime: dropping it kills the server and every connection at
/// once, like a crashed Falco.
struct FalcoServer {
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for FalcoServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn start_server(falco: &FakeFalco, listen: &Listen, tls: Option<&Certs>) -> FalcoServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut builder = Server::builder();
    if let Some(c) = tls {
        builder = builder
            .tls_config(
                ServerTlsConfig::new()
                    .identity(Identity::from_pem(
                        std::fs::read(&c.server_cert).unwrap(),
                        std::fs::read(&c.server_key).unwrap(),
                    ))
                    .client_ca_root(Certificate::from_pem(std::fs::read(&c.ca).unwrap())),
            )
            .unwrap();
    }
    let svc = ServiceServer::new(falco.clone());
    // Bound here (std), served on the server's own runtime.
    match listen {
        Listen::Tcp(port) => {
            let l = std::net::TcpListener::bind(("127.0.0.1", *port)).unwrap();
            l.set_nonblocking(true).unwrap();
            rt.spawn(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
                builder.serve_with_incoming(svc, incoming).await
            });
        }
        Listen::Unix(path) => {
            let _ = std::fs::remove_file(path);
            let l = std::os::unix::net::UnixListener::bind(path).unwrap();
            l.set_nonblocking(true).unwrap();
            rt.spawn(async move {
                let l = tokio::net::UnixListener::from_std(l).unwrap();
                let incoming = tokio_stream::wrappers::UnixListenerStream::new(l);
                builder.serve_with_incoming(svc, incoming).await
            });
        }
    }
    FalcoServer { rt: Some(rt) }
}

fn settings(address: String) -> FalcoGrpcSettings {
    FalcoGrpcSettings {
        address,
        poll_interval_ms: 50,
        reconnect_max_ms: 500,
        ..FalcoGrpcSettings::default()
    }
}

fn pipeline(settings: FalcoGrpcSettings) -> PipelineHandle {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(STATE);
    let resources = parse_state(STATE, &std::fs::read(&path).unwrap()).unwrap();
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::FalcoGrpc(settings)],
        ..PipelineConfig::default()
    };
    spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(resources)),
        &cfg,
    )
    .unwrap()
}

async fn drain(handle: &mut PipelineHandle, n: usize) -> Vec<Alert> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), handle.alerts.recv()).await {
            Ok(Some(a)) => out.push(a),
            _ => break,
        }
    }
    out
}

/// Checks the instance-type drift and the GCP alert.
fn check_alerts(alerts: &[Alert], ct_ids: &[&str]) {
    for id in ct_ids {
        let a = alerts
            .iter()
            .find(|a| a.event.id == *id)
            .unwrap_or_else(|| panic!("no alert for {id}: {alerts:#?}"));
        assert_eq!(a.resource.rtype, "aws_instance");
        assert_eq!(a.resource.id, INSTANCE);
        assert_eq!(a.resource.address.as_deref(), Some("aws_instance.web"));
        assert_eq!(a.diffs.len(), 1, "{:?}", a.diffs);
        assert_eq!(a.diffs[0].path, "instance_type");
        assert_eq!(a.diffs[0].state, "t3.micro");
        assert_eq!(a.diffs[0].observed, "t3.large");
        assert_eq!(a.event.name, "ModifyInstanceAttribute");
        assert_eq!(
            a.actor.arn.as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
    }
}

fn check_gcp(alerts: &[Alert]) {
    let g = alerts
        .iter()
        .find(|a| a.provider == "gcp")
        .expect("gcpaudit alert");
    assert!(
        g.resource.rtype.starts_with("google_storage_bucket"),
        "{g:?}"
    );
    assert_eq!(g.event.name, "storage.setIamPermissions");
    assert_eq!(g.actor.email.as_deref(), Some("alice@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_alerts_reconnect_after_kill_and_malformed_counted() {
    let falco = FakeFalco::default();
    let port = free_port();
    let server = start_server(&falco, &Listen::Tcp(port), None);
    falco.push(ct_alert("grpc-tcp-1", "t3.large"));
    falco.push(gcp_alert());
    // Malformed: no ct.name (counted unparseable), then a syscall alert (skipped).
    let mut bad = ct_alert("grpc-bad-1", "t3.large");
    bad.output_fields.remove("ct.name");
    falco.push(bad);
    falco.push(FalcoResponse {
        source: "syscall".into(),
        rule: "Terminal shell in container".into(),
        ..FalcoResponse::default()
    });
    let mut s = settings(format!("http://127.0.0.1:{port}"));
    s.plaintext = true;
    let mut handle = pipeline(s);
    let alerts = drain(&mut handle, 2).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    check_alerts(&alerts, &["grpc-tcp-1"]);
    check_gcp(&alerts);

    // Kill Falco; alerts queued while it is down arrive after it comes back.
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    falco.push(ct_alert("grpc-tcp-2", "t3.large"));
    let _server = start_server(&falco, &Listen::Tcp(port), None);
    let alerts = drain(&mut handle, 1).await;
    assert_eq!(alerts.len(), 1, "reconnected and continued");
    check_alerts(&alerts, &["grpc-tcp-2"]);

    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.unparseable, 1, "{stats:?}");
    assert!(
        stats
            .unparseable_reasons
            .keys()
            .any(|k| k.contains("ct.name")),
        "{:?}",
        stats.unparseable_reasons
    );
    let h = stats
        .sources
        .values()
        .find(|h| h.kind == "falco_grpc")
        .expect("falco_grpc health");
    assert!(h.events >= 3 && h.last_event.is_some(), "{h:?}");
    // One malformed alert plus at least one lost connection.
    assert!(h.errors >= 2, "{h:?}");
    assert!(h.last_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("falco.sock");
    let falco = FakeFalco::default();
    let _server = start_server(&falco, &Listen::Unix(sock.clone()), None);
    falco.push(ct_alert("grpc-unix-1", "t3.large"));
    falco.push(gcp_alert());
    let mut handle = pipeline(settings(format!("unix://{}", sock.display())));
    let alerts = drain(&mut handle, 2).await;
    check_alerts(&alerts, &["grpc-unix-1"]);
    check_gcp(&alerts);
    // Alerts that arrive later come with the next poll.
    falco.push(ct_alert("grpc-unix-2", "t3.large"));
    let alerts = drain(&mut handle, 1).await;
    check_alerts(&alerts, &["grpc-unix-2"]);
    handle.cancel();
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    let h = stats.sources.values().next().expect("health");
    assert!(h.connected && h.errors == 0, "{h:?}");
}

struct Certs {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the mTLS test: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by
/// the CA; plus an unrelated CA (for the negative case).
fn make_certs(dir: &Path) -> Certs {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    for ca in ["ca", "other"] {
        let (key, pem, subj) = (
            format!("{ca}.key"),
            format!("{ca}.pem"),
            format!("/CN=tfdrift test {ca} CA"),
        );
        let mut a = vec!["req", "-x509", "-nodes", "-days", "2"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &pem, "-subj", &subj]);
        openssl(dir, &a);
    }
    for (who, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{who}.ext")), ext).unwrap();
        let mut a = vec!["req", "-new", "-nodes"];
        a.extend(ec);
        let (key, csr, pem, extf, subj) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
            format!("/CN=tfdrift test {who}"),
        );
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &a);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &extf,
            ],
        );
    }
    Certs {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        other_ca: dir.join("other.pem"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_alerts_and_untrusted_server_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let falco = FakeFalco::default();
    let port = free_port();
    let _server = start_server(&falco, &Listen::Tcp(port), Some(&certs));

    // A client that does not trust the server's CA never connects and never takes alerts.
    falco.push(ct_alert("grpc-tls-1", "t3.large"));
    let mut wrong = settings(format!("127.0.0.1:{port}"));
    wrong.ca_cert = Some(certs.other_ca.clone());
    wrong.client_cert = Some(certs.client_cert.clone());
    wrong.client_key = Some(certs.client_key.clone());
    let mut bad_handle = pipeline(wrong);
    let got = tokio::time::timeout(Duration::from_millis(1500), bad_handle.alerts.recv()).await;
    assert!(got.is_err(), "untrusted server must not deliver alerts");
    bad_handle.cancel();
    bad_handle.join().await;
    let stats = bad_handle.stats.borrow().clone();
    let h = stats.sources.values().next().expect("health");
    assert!(!h.connected && h.errors >= 1, "{h:?}");
    let err = h.last_error.clone().unwrap_or_default();
    assert!(err.contains("connect 127.0.0.1:"), "{err}");

    // The right CA and client identity: alerts flow.
    let mut s = settings(format!("https://127.0.0.1:{port}"));
    s.ca_cert = Some(certs.ca.clone());
    s.client_cert = Some(certs.client_cert);
    s.client_key = Some(certs.client_key);
    let started = Instant::now();
    let mut handle = pipeline(s);
    falco.push(gcp_alert());
    let alerts = drain(&mut handle, 2).await;
    assert_eq!(
        alerts.len(),
        2,
        "after {:?}: {alerts:#?}",
        started.elapsed()
    );
    check_alerts(&alerts, &["grpc-tls-1"]);
    check_gcp(&alerts);
    handle.cancel();
    handle.join().await;
}
