//! Falco's legacy gRPC output API (Falco ≤ 0.43; removed in 0.44): a tonic client of the
//! bidirectional `falco.outputs.service/sub` call.
//!
//! Falco answers each empty `request` with every alert queued since the last one, so the client
//! sends one when the stream opens and again after every idle poll interval (like client-go's
//! `OutputsWatch`). Each `response` becomes the same alert JSON Falco's `json_output` writes and
//! goes through the Falco normaliser, so both Falco paths map fields identically. Transports:
//! Falco's default Unix socket (`unix:///run/falco/falco.sock`, no auth), or a network address
//! with TLS / mTLS (Falco requires mTLS there); plain-text `http://` only when explicitly
//! allowed. A dropped connection is retried with capped exponential backoff and jitter; health
//! (connected, events, errors) goes to the [`HealthRegistry`]. Backpressure: each alert is handed
//! to the bounded source channel before the next is read, so a slow pipeline slows the stream
//! (Falco queues meanwhile); nothing is dropped here. The protocol has no acknowledgement: an
//! alert Falco sent just before a connection broke is lost by Falco, not by us.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::health::HealthRegistry;
use super::{event_summary, normalize_bytes};
use crate::pipeline::SourceItem;

/// Code generated from `proto/falco/*.proto` (our wire-compatible copy of Falco 0.43.0's API).
#[allow(
    missing_docs,
    nonstandard_style,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unreachable_pub
)]
pub mod proto {
    /// Falco's packages.
    pub mod falco {
        /// `falco.outputs`: the alert stream.
        pub mod outputs {
            tonic::include_proto!("falco.outputs");
        }
        /// `falco.schema`: priority and source enums.
        pub mod schema {
            tonic::include_proto!("falco.schema");
        }
        /// `falco.version`: the version service.
        pub mod version {
            tonic::include_proto!("falco.version");
        }
    }
}

use proto::falco::outputs::{Request, Response, service_client::ServiceClient};
use proto::falco::schema::{Priority, Source};

const KIND: &str = "falco_grpc";

fn default_address() -> String {
    "unix:///run/falco/falco.sock".into()
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_backoff_max_ms() -> u64 {
    30_000
}

/// `sources: [{type: falco_grpc, …}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalcoGrpcSettings {
    /// `unix:///run/falco/falco.sock` (Falco's default, the default here), `host:port` or
    /// `https://host:port` (TLS), or `http://host:port` (plain text, needs `plaintext: true`).
    #[serde(default = "default_address")]
    pub address: String,
    /// PEM CA that signed Falco's server certificate (`grpc.root_certs` side); default: the
    /// system roots.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mTLS (Falco requires one on network addresses).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Server name to verify when it differs from the address's host.
    #[serde(default)]
    pub tls_domain: Option<String>,
    /// Allows an `http://` address (no TLS); off so that a typo never sends alerts in clear.
    #[serde(default)]
    pub plaintext: bool,
    /// Idle time after which another empty request asks Falco for queued alerts (ms, default
    /// 1000).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// Longest wait between reconnection attempts (ms, default 30000).
    #[serde(default = "default_backoff_max_ms")]
    pub reconnect_max_ms: u64,
}

impl Default for FalcoGrpcSettings {
    fn default() -> Self {
        Self {
            address: default_address(),
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_domain: None,
            plaintext: false,
            poll_interval_ms: default_poll_ms(),
            reconnect_max_ms: default_backoff_max_ms(),
        }
    }
}

/// A configuration problem; reported once, the source then stops (retrying cannot fix it).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Plain text asked for without `plaintext: true`.
    #[error(
        "falco_grpc address {0} is plain text: use https:// with ca_cert/client_cert/client_key, or set plaintext: true"
    )]
    Plaintext(String),
    /// A certificate or key file could not be read.
    #[error("falco_grpc {field} {path}: {err} (check the path and its permissions)")]
    File {
        /// The settings key.
        field: &'static str,
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// Only one half of the client identity.
    #[error("falco_grpc: client_cert and client_key must be set together")]
    HalfIdentity,
    /// The address is not a URI tonic accepts.
    #[error(
        "falco_grpc address {addr}: {err} (expected unix:///path, host:port or https://host:port)"
    )]
    Address {
        /// The address.
        addr: String,
        /// Why.
        err: String,
    },
}

fn read(field: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|err| ConfigError::File {
        field,
        path: path.display().to_string(),
        err,
    })
}

/// Builds the endpoint (with TLS for network addresses unless plain text is allowed).
pub fn endpoint(s: &FalcoGrpcSettings) -> Result<Endpoint, ConfigError> {
    let addr = s.address.trim();
    let bad = |err: &dyn std::fmt::Display| ConfigError::Address {
        addr: addr.to_string(),
        err: err.to_string(),
    };
    if addr.starts_with("unix:") {
        return Endpoint::from_shared(addr.to_string()).map_err(|e| bad(&e));
    }
    if let Some(rest) = addr.strip_prefix("http://") {
        if !s.plaintext {
            return Err(ConfigError::Plaintext(addr.to_string()));
        }
        return Endpoint::from_shared(format!("http://{rest}"))
            .map(|e| e.tcp_nodelay(true))
            .map_err(|e| bad(&e));
    }
    let host_port = addr.strip_prefix("https://").unwrap_or(addr);
    let mut tls = ClientTlsConfig::new();
    tls = match &s.ca_cert {
        Some(p) => tls.ca_certificate(Certificate::from_pem(read("ca_cert", p)?)),
        None => tls.with_native_roots(),
    };
    match (&s.client_cert, &s.client_key) {
        (Some(c), Some(k)) => {
            tls = tls.identity(Identity::from_pem(
                read("client_cert", c)?,
                read("client_key", k)?,
            ));
        }
        (None, None) => {}
        _ => return Err(ConfigError::HalfIdentity),
    }
    if let Some(d) = &s.tls_domain {
        tls = tls.domain_name(d.clone());
    }
    Endpoint::from_shared(format!("https://{host_port}"))
        .and_then(|e| e.tls_config(tls))
        .map(|e| e.tcp_nodelay(true))
        .map_err(|e| bad(&e))
}

/// Falco's JSON spelling of a priority (`json_output` writes `Notice`, `Critical` …).
#[must_use]
pub fn priority_name(p: i32) -> &'static str {
    match Priority::try_from(p) {
        Ok(Priority::Emergency) => "Emergency",
        Ok(Priority::Alert) => "Alert",
        Ok(Priority::Critical) => "Critical",
        Ok(Priority::Error) => "Error",
        Ok(Priority::Warning) => "Warning",
        Ok(Priority::Notice) => "Notice",
        Ok(Priority::Informational) => "Informational",
        Ok(Priority::Debug) => "Debug",
        Err(_) => "Unknown",
    }
}

/// The event source: field 9 when set (Falco ≥ 0.31), else guessed from the plugin's field
/// prefixes (`ct.*`, `gcp.*`), else the deprecated enum's name.
#[must_use]
#[allow(deprecated)]
pub fn source_name(r: &Response) -> String {
    if !r.source.is_empty() {
        return r.source.clone();
    }
    let has = |prefix: &str| r.output_fields.keys().any(|k| k.starts_with(prefix));
    if has("ct.") {
        return "aws_cloudtrail".into();
    }
    if has("gcp.") {
        return "gcp_auditlog".into();
    }
    match Source::try_from(r.source_deprecated) {
        Ok(Source::Syscall) => "syscall",
        Ok(Source::K8sAudit) => "k8s_audit",
        Ok(Source::Internal) => "internal",
        Ok(Source::Plugin) => "plugin",
        Err(_) => "unknown",
    }
    .into()
}

/// The alert as Falco's `json_output` would write it. Output field values stay the strings
/// Falco sent (`"null"`, `"1714572698000000000"`, JSON text): the normaliser reads those.
#[must_use]
pub fn alert_json(r: &Response) -> Value {
    let time = r.time.as_ref().and_then(|t| {
        let nanos = u32::try_from(t.nanos).ok()?;
        chrono::DateTime::from_timestamp(t.seconds, nanos)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    });
    // Sorted: prost's map is a HashMap, and the gcpaudit fallback id hashes the alert's text,
    // so the same alert must always serialise the same way.
    let sorted: std::collections::BTreeMap<&String, &String> = r.output_fields.iter().collect();
    let fields: Map<String, Value> = sorted
        .into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "time": time,
        "priority": priority_name(r.priority),
        "rule": r.rule,
        "output": r.output,
        "output_fields": fields,
        "hostname": r.hostname,
        "tags": r.tags,
        "source": source_name(r),
    })
}

/// Normalises one response into source items (one event, a skip, or an unparseable entry).
#[must_use]
pub fn to_items(origin: &str, r: &Response) -> Vec<SourceItem> {
    match serde_json::to_vec(&alert_json(r)) {
        Ok(bytes) => normalize_bytes(origin, &bytes),
        Err(e) => vec![SourceItem::Unparseable {
            origin: origin.to_string(),
            reason: format!("Falco gRPC alert: {e}"),
        }],
    }
}

/// Delay before reconnection attempt `attempt` (1-based): 250 ms doubling up to `max`, with
/// "equal jitter" (between half and all of it) so that many clients do not retry in step.
#[must_use]
pub fn reconnect_delay(attempt: u32, max: Duration, seed: u64) -> Duration {
    let d = crate::backoff::exponential(Duration::from_millis(250), attempt, max);
    d.mul_f64(0.5 + 0.5 * crate::backoff::jitter(seed))
}

/// Why a session ended.
enum End {
    /// Shutdown requested.
    Cancelled,
    /// The pipeline is gone.
    PipelineClosed,
    /// The server closed the stream or the connection failed; retry.
    Retry(String),
}

/// Runs the source until `cancel`: connect, subscribe, forward, reconnect.
pub async fn run(
    settings: FalcoGrpcSettings,
    tx: mpsc::Sender<SourceItem>,
    health: HealthRegistry,
    name: &str,
    cancel: CancellationToken,
) {
    let ep = match endpoint(&settings) {
        Ok(ep) => ep.connect_timeout(Duration::from_secs(10)),
        Err(e) => {
            tracing::error!(source = %name, error = %e, "Falco gRPC source not started");
            health.error(name, KIND, &e.to_string());
            return;
        }
    };
    let poll = Duration::from_millis(settings.poll_interval_ms.max(10));
    let max = Duration::from_millis(settings.reconnect_max_ms.max(250));
    let mut attempt = 0u32;
    loop {
        let got_any;
        let end = match ep.connect().await {
            Ok(channel) => {
                let (end, n) = session(channel, poll, &tx, &health, name, &cancel).await;
                got_any = n > 0;
                end
            }
            Err(e) => {
                got_any = false;
                End::Retry(format!("connect {}: {}", settings.address, error_chain(&e)))
            }
        };
        match end {
            End::Cancelled | End::PipelineClosed => return,
            End::Retry(why) => {
                tracing::warn!(source = %name, error = %why, "Falco gRPC stream lost; reconnecting");
                health.error(name, KIND, &why);
            }
        }
        attempt = if got_any {
            1
        } else {
            attempt.saturating_add(1)
        };
        let seed = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos(),
        );
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(reconnect_delay(attempt, max, seed)) => {}
        }
    }
}

/// The error and its sources on one line (tonic's top-level message is often just "transport
/// error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One `sub` stream; returns why it ended and how many alerts it carried.
async fn session(
    channel: Channel,
    poll: Duration,
    tx: &mpsc::Sender<SourceItem>,
    health: &HealthRegistry,
    name: &str,
    cancel: &CancellationToken,
) -> (End, u64) {
    let mut client = ServiceClient::new(channel);
    let (req_tx, req_rx) = mpsc::channel::<Request>(4);
    // The first request asks for what is queued; `sub` waits for it.
    let _ = req_tx.try_send(Request {});
    let mut stream = match client
        .sub(tokio_stream::wrappers::ReceiverStream::new(req_rx))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return (End::Retry(format!("sub: {status}")), 0),
    };
    health.ok(name, KIND);
    tracing::info!(source = %name, "Falco gRPC stream open");
    let origin = format!("{name}:alert");
    let mut received = 0u64;
    loop {
        let msg = tokio::select! {
            () = cancel.cancelled() => return (End::Cancelled, received),
            m = tokio::time::timeout(poll, stream.message()) => m,
        };
        match msg {
            // Idle: ask again (a full request queue means the server is not reading: no need).
            Err(_) => {
                let _ = req_tx.try_send(Request {});
            }
            Ok(Ok(Some(r))) => {
                received += 1;
                let items = to_items(&origin, &r);
                let (n, newest) = event_summary(&items);
                let bad = items.iter().find_map(|i| match i {
                    SourceItem::Unparseable { reason, .. } => Some(reason.clone()),
                    _ => None,
                });
                for item in items {
                    // Backpressure: waits while the engine is behind.
                    if tx.send(item).await.is_err() {
                        return (End::PipelineClosed, received);
                    }
                }
                if let Some(reason) = bad {
                    health.update(name, KIND, |h| {
                        h.errors += 1;
                        h.last_error = Some(reason);
                    });
                }
                health.events(name, KIND, n, newest);
            }
            Ok(Ok(None)) => return (End::Retry("server closed the stream".into()), received),
            Ok(Err(status)) => return (End::Retry(format!("stream: {status}")), received),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ct_response() -> Response {
        let mut r = Response {
            time: Some(prost_types::Timestamp {
                seconds: 1_714_572_698,
                nanos: 5,
            }),
            priority: Priority::Notice as i32,
            rule: "SG ingress changed".into(),
            output: "SG ingress changed".into(),
            hostname: "falco-0".into(),
            tags: vec!["aws".into()],
            ..Response::default()
        };
        for (k, v) in [
            ("ct.id", "abc-1"),
            ("ct.name", "AuthorizeSecurityGroupIngress"),
            ("ct.src", "ec2.amazonaws.com"),
            ("ct.error", "null"),
            ("ct.readonly", "false"),
            ("ct.request", r#"{"groupId":"sg-1"}"#),
            ("evt.time", "1714572698000000000"),
        ] {
            r.output_fields.insert(k.into(), v.into());
        }
        r
    }

    #[test]
    fn stringified_fields_and_deprecated_source_normalise() {
        // No field 9 (Falco < 0.31 style) and source_deprecated PLUGIN: guessed from `ct.*`.
        #[allow(deprecated)]
        let r = Response {
            source_deprecated: Source::Plugin as i32,
            ..ct_response()
        };
        let v = alert_json(&r);
        assert_eq!(v["source"], "aws_cloudtrail");
        assert_eq!(v["priority"], "Notice");
        assert_eq!(v["time"], "2024-05-01T14:11:38.000000005Z");
        let items = to_items("t", &r);
        let [SourceItem::Event(ev)] = &items[..] else {
            panic!("{items:?}")
        };
        assert_eq!(ev.id, "abc-1");
        assert_eq!(ev.error_code, None, "\"null\" is absent");
        assert_eq!(ev.read_only, Some(false));
        assert_eq!(ev.request["groupId"], "sg-1");
        assert_eq!(ev.time.unwrap().timestamp(), 1_714_572_698);
    }

    #[test]
    fn other_sources_are_skipped_and_bad_alerts_unparseable() {
        let r = Response {
            source: "syscall".into(),
            ..Response::default()
        };
        assert!(matches!(&to_items("t", &r)[..], [SourceItem::Skipped(_)]));
        let mut r = ct_response();
        r.output_fields.remove("ct.name");
        r.source = "aws_cloudtrail".into();
        assert!(matches!(
            &to_items("t", &r)[..],
            [SourceItem::Unparseable { .. }]
        ));
        // A timestamp with negative nanos is not a time; the alert still normalises.
        r = ct_response();
        r.time = Some(prost_types::Timestamp {
            seconds: 1,
            nanos: -1,
        });
        assert_eq!(alert_json(&r)["time"], Value::Null);
    }

    #[test]
    fn plaintext_needs_opt_in_and_identity_needs_both_halves() {
        let mut s = FalcoGrpcSettings {
            address: "http://127.0.0.1:5060".into(),
            ..FalcoGrpcSettings::default()
        };
        assert!(matches!(endpoint(&s), Err(ConfigError::Plaintext(_))));
        s.plaintext = true;
        assert!(endpoint(&s).is_ok());
        s.address = "127.0.0.1:5060".into();
        s.client_cert = Some("/nonexistent".into());
        assert!(matches!(endpoint(&s), Err(ConfigError::HalfIdentity)));
        s.client_key = Some("/nonexistent".into());
        let e = endpoint(&s).unwrap_err().to_string();
        assert!(e.contains("client_cert /nonexistent"), "{e}");
        assert!(endpoint(&FalcoGrpcSettings::default()).is_ok());
    }

    #[test]
    fn config_keys_parse_and_typos_are_refused() {
        let spec: crate::collect::SourceSpec = serde_saphyr::from_str(
            "type: falco_grpc\naddress: https://falco:5060\nca_cert: /ca.pem\npoll_interval_ms: 250\n",
        )
        .unwrap();
        let crate::collect::SourceSpec::FalcoGrpc(s) = spec else {
            panic!("{spec:?}")
        };
        assert_eq!(s.address, "https://falco:5060");
        assert_eq!(s.poll_interval_ms, 250);
        assert_eq!(s.reconnect_max_ms, 30_000);
        let bad: Result<crate::collect::SourceSpec, _> =
            serde_saphyr::from_str("type: falco_grpc\nca_certs: /ca.pem\n");
        assert!(bad.is_err());
    }

    #[test]
    fn reconnect_delay_grows_and_caps() {
        let max = Duration::from_secs(30);
        let d1 = reconnect_delay(1, max, 7);
        assert!(d1 >= Duration::from_millis(125) && d1 <= Duration::from_millis(250));
        let d5 = reconnect_delay(5, max, 7);
        assert!(d5 >= Duration::from_secs(2) && d5 <= Duration::from_secs(4));
        for seed in 0..50 {
            let d = reconnect_delay(40, max, seed);
            assert!(d <= max && d >= max / 2, "{d:?}");
        }
    }
}
