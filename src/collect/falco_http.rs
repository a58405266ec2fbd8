//! Falco `http_output` receiver: one JSON alert per POST (JSON lines bodies too).
//!
//! Loopback by default; optional bearer token (checked before the body is read; the scheme is
//! case-insensitive); a body limit (413, also after gunzip); `Content-Encoding: gzip` or
//! identity, any other encoding 415; `text/plain` (Falco without `json_output`) rejected with
//! 415. Served by [`super::listener`]: header and body read timeouts and a connection cap, so
//! clients that send half a request cannot starve it.
//!
//! Durable answers: Falco does not retry, so a `200` promises the alert is kept. Each POST's
//! events go to the engine in a batch, and the answer waits for the engine's acknowledgement,
//! sent once the events' outcome (alerts with their history and outbox rows, or "no alert") is
//! committed to the store. Concurrent POSTs share a batch (see [`Batcher`]): while one commit
//! is being written, the POSTs arriving meanwhile gather for the next, so a busy receiver pays
//! one fsync per group, not per POST. A store failure is answered `503`. A slow pipeline slows
//! the answers (backpressure), nothing is dropped. `GET /healthz` answers `ok`.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::health::HealthRegistry;
use super::listener::{self, BodyError, ConnCounters, ListenLimits};
use super::{event_summary, normalize_bytes};
use crate::pipeline::{BatchAck, SourceItem};

const KIND: &str = "falco_http";

/// Most items handed to the engine in one batch (POSTs gathered while the last one commits).
const BATCH_MAX_ITEMS: usize = 1024;

/// POSTs waiting for the batcher.
const BATCH_QUEUE: usize = 1024;

fn default_listen() -> String {
    "127.0.0.1:8765".into()
}

fn default_max_body() -> usize {
    1024 * 1024
}

fn default_header_timeout_ms() -> u64 {
    ms(listener::DEFAULT_HEADER_TIMEOUT)
}

fn default_body_timeout_ms() -> u64 {
    ms(listener::DEFAULT_BODY_TIMEOUT)
}

fn default_max_connections() -> usize {
    listener::DEFAULT_MAX_CONNECTIONS
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `sources: [{type: falco_http, …}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalcoHttpSettings {
    /// Address to bind (default `127.0.0.1:8765`, loopback only).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Environment variable holding the bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the bearer token (trailing whitespace trimmed); neither set = no
    /// authentication.
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    /// Largest accepted body in bytes, after decompression (default 1 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Milliseconds a client has to send a complete request header (default 10 s); also how
    /// long an idle keep-alive connection stays open.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Milliseconds a client has to send the body once its header is in (default 30 s).
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Open connections at most (default 512); more are answered `503` and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for FalcoHttpSettings {
    fn default() -> Self {
        FalcoHttpSettings {
            listen: default_listen(),
            token_env: None,
            token_file: None,
            max_body_bytes: default_max_body(),
            header_timeout_ms: default_header_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            max_connections: default_max_connections(),
        }
    }
}

impl FalcoHttpSettings {
    /// The listener limits these settings ask for.
    #[must_use]
    pub fn limits(&self) -> ListenLimits {
        ListenLimits {
            header_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
            body_timeout: Duration::from_millis(self.body_timeout_ms.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }
}

/// What the receiver needs once settings are resolved.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// Required bearer token, if any.
    pub token: Option<String>,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
    /// Read timeouts and connection cap.
    pub limits: ListenLimits,
}

/// One POST's items and where its answer goes.
type Job = (Vec<SourceItem>, oneshot::Sender<Result<BatchAck, String>>);

/// Gathers concurrent POSTs into one engine batch: takes whatever is queued (up to
/// [`BATCH_MAX_ITEMS`]), hands it to the engine with [`super::send_batch`], waits for the
/// acknowledgement (the commit), and passes it to every POST of the batch. One batch in flight:
/// POSTs arriving during a commit form the next group.
struct Batcher;

impl Batcher {
    fn spawn(tx: mpsc::Sender<SourceItem>) -> mpsc::Sender<Job> {
        let (jobs_tx, mut jobs) = mpsc::channel::<Job>(BATCH_QUEUE);
        tokio::spawn(async move {
            while let Some((mut items, first)) = jobs.recv().await {
                let mut waiters = vec![first];
                while items.len() < BATCH_MAX_ITEMS {
                    match jobs.try_recv() {
                        Ok((more, w)) => {
                            items.extend(more);
                            waiters.push(w);
                        }
                        Err(_) => break,
                    }
                }
                let ack = super::send_batch(&tx, items).await;
                for w in waiters {
                    let _ = w.send(ack.clone());
                }
            }
        });
        jobs_tx
    }
}

#[derive(Clone)]
struct AppState {
    jobs: mpsc::Sender<Job>,
    token: Option<Arc<str>>,
    max_body: usize,
    body_timeout: Duration,
    health: HealthRegistry,
    name: Arc<str>,
    counters: Arc<ConnCounters>,
}

/// Binds `settings.listen` and serves until `cancel`.
pub async fn serve(
    settings: &FalcoHttpSettings,
    tx: mpsc::Sender<SourceItem>,
    health: HealthRegistry,
    name: &str,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let token = match (&settings.token_env, &settings.token_file) {
        (Some(var), _) => match std::env::var(var) {
            Ok(t) if !t.is_empty() => Some(t),
            _ => {
                return Err(std::io::Error::other(format!(
                    "token_env {var} is not set: refusing to start the Falco receiver without its token"
                )));
            }
        },
        (None, Some(path)) => {
            let t = std::fs::read_to_string(path)?.trim_end().to_string();
            if t.is_empty() {
                return Err(std::io::Error::other(format!(
                    "token_file {} is empty: refusing to start the Falco receiver without its token",
                    path.display()
                )));
            }
            Some(t)
        }
        (None, None) => None,
    };
    let listener = TcpListener::bind(&settings.listen).await?;
    let opts = ReceiverOptions {
        token,
        max_body_bytes: settings.max_body_bytes,
        limits: settings.limits(),
    };
    tracing::info!(
        listen = %settings.listen,
        auth = opts.token.is_some(),
        header_timeout_ms = settings.header_timeout_ms,
        body_timeout_ms = settings.body_timeout_ms,
        max_connections = settings.max_connections,
        "Falco HTTP receiver listening (answers 200 once the alerts are committed to the store)"
    );
    serve_on(listener, &opts, tx, health, name, cancel).await
}

/// Serves on an already bound listener (tests bind port 0) until `cancel`.
pub async fn serve_on(
    listener: TcpListener,
    opts: &ReceiverOptions,
    tx: mpsc::Sender<SourceItem>,
    health: HealthRegistry,
    name: &str,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    health.ok(name, KIND);
    let counters = Arc::new(ConnCounters::default());
    let app = router(opts, tx, health.clone(), name, counters.clone());
    let (h, n) = (health, name.to_string());
    // The counters are read under the registry's lock: read before it, a connection closing
    // and one opening at the same moment could publish in the wrong order and leave a stale
    // `connections_open` (seen: 19 shown with 20 open, until the next change).
    let on_change: listener::OnChange = Arc::new(move |c: &ConnCounters| {
        h.update(&n, KIND, |e| {
            let snap = c.snapshot();
            e.connections_open = snap.open;
            e.connections_refused = snap.refused;
            e.connections_timed_out = snap.timed_out;
            e.unauthorized = snap.unauthorized;
        });
    });
    listener::serve(
        listener,
        app,
        opts.limits,
        counters,
        Some(on_change),
        name,
        cancel,
    )
    .await
}

fn router(
    opts: &ReceiverOptions,
    tx: mpsc::Sender<SourceItem>,
    health: HealthRegistry,
    name: &str,
    counters: Arc<ConnCounters>,
) -> Router {
    let state = AppState {
        jobs: Batcher::spawn(tx),
        token: opts.token.as_deref().map(Arc::from),
        max_body: opts.max_body_bytes,
        body_timeout: opts.limits.body_timeout,
        health,
        name: Arc::from(name),
        counters,
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/", post(ingest))
        .fallback(post(ingest))
        .with_state(state)
}

fn reply(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"error\":{}}}\n", serde_json::Value::from(msg)),
    )
        .into_response()
}

/// An answer sent before the body was read: the connection is closed after it (the unread
/// body must not be taken for the next request).
fn reply_close(status: StatusCode, msg: &str) -> Response {
    let mut r = reply(status, msg);
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}

/// Whether the body is gzipped (`Some(true)`), plain (`Some(false)`), or in an encoding this
/// receiver does not read (`None`).
fn encoding(headers: &HeaderMap) -> Option<bool> {
    let Some(v) = headers.get(header::CONTENT_ENCODING) else {
        return Some(false);
    };
    let v = v.to_str().ok()?.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("identity") {
        Some(false)
    } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
        Some(true)
    } else {
        None
    }
}

async fn ingest(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    // Everything that can be decided from the header is decided before reading the body.
    if let Some(token) = &st.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !listener::bearer_matches(given, token) {
            if st.counters.count_unauthorized() {
                tracing::warn!(source = %st.name, unauthorized = st.counters.unauthorized.load(std::sync::atomic::Ordering::Relaxed), "Falco POST without the right bearer token refused (check Falco's http_output.custom_headers)");
            }
            return reply_close(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ctype.starts_with("text/plain") {
        return reply_close(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Falco sent plain text: set json_output: true",
        );
    }
    let Some(gzip) = encoding(&headers) else {
        return reply_close(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Encoding: send identity or gzip",
        );
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(st.max_body).unwrap_or(u64::MAX)) {
        return reply_close(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let body = match listener::read_body(body, st.max_body, st.body_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return reply_close(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Err(BodyError::TimedOut) => {
            if st.counters.count_timeout() {
                tracing::warn!(source = %st.name, timeout_ms = ms(st.body_timeout), "A Falco client did not send its body in time; answered 408");
            }
            return reply_close(StatusCode::REQUEST_TIMEOUT, "body not received in time");
        }
        Err(BodyError::Broken(e)) => {
            return reply_close(StatusCode::BAD_REQUEST, &format!("reading the body: {e}"));
        }
    };
    let body = if gzip || body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let limit = u64::try_from(st.max_body)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        match flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
        {
            Ok(_) if out.len() > st.max_body => {
                return reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large after gunzip");
            }
            Ok(_) => Bytes::from(out),
            Err(e) => return reply(StatusCode::BAD_REQUEST, &format!("bad gzip body: {e}")),
        }
    } else {
        body
    };
    let items = normalize_bytes("falco_http", &body);
    if items.is_empty() {
        return reply(StatusCode::BAD_REQUEST, "empty body");
    }
    let all_bad = items
        .iter()
        .all(|i| matches!(i, SourceItem::Unparseable { .. }));
    let first_reason = items.iter().find_map(|i| match i {
        SourceItem::Unparseable { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    let (n, newest) = event_summary(&items);
    // Answered only once the engine has committed the outcome (backpressure: waits while the
    // engine is behind; never drops).
    let (ack_tx, ack_rx) = oneshot::channel();
    if st.jobs.send((items, ack_tx)).await.is_err() {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "pipeline is shutting down");
    }
    match ack_rx.await {
        Ok(Ok(ack)) if ack.store_errors == 0 => {}
        Ok(Ok(_)) => {
            st.health
                .error(&st.name, KIND, "the store failed to record a batch");
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "the alerts could not be recorded (store error; see the daemon log)",
            );
        }
        Ok(Err(e)) => return reply(StatusCode::SERVICE_UNAVAILABLE, &e),
        Err(_) => return reply(StatusCode::SERVICE_UNAVAILABLE, "pipeline is shutting down"),
    }
    if all_bad {
        let reason = first_reason.unwrap_or_default();
        st.health.error(&st.name, KIND, &reason);
        return reply(StatusCode::BAD_REQUEST, &reason);
    }
    st.health.events(&st.name, KIND, n, newest);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"accepted\":{n}}}\n"),
    )
        .into_response()
}
