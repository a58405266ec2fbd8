//! Falco `http_output` receiver (axum): one JSON alert per POST (JSON lines bodies too).
//!
//! Loopback by default; optional bearer token; a body limit (413, also after gunzip);
//! `Content-Encoding: gzip` tolerated; `text/plain` (Falco without `json_output`) rejected with
//! 415. Backpressure instead of loss: the handler awaits the bounded channel send, so a slow
//! pipeline slows the receiver, and it answers 2xx only once every event of the body has been
//! handed to the pipeline. `GET /healthz` answers `ok`.

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::health::HealthRegistry;
use super::{event_summary, normalize_bytes};
use crate::pipeline::SourceItem;

const KIND: &str = "falco_http";

fn default_listen() -> String {
    "127.0.0.1:8765".into()
}

fn default_max_body() -> usize {
    1024 * 1024
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
}

/// What the receiver needs once settings are resolved.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// Required bearer token, if any.
    pub token: Option<String>,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
}

#[derive(Clone)]
struct AppState {
    tx: mpsc::Sender<SourceItem>,
    token: Option<Arc<str>>,
    max_body: usize,
    health: HealthRegistry,
    name: Arc<str>,
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
    };
    tracing::info!(listen = %settings.listen, auth = opts.token.is_some(), "Falco HTTP receiver listening");
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
    let app = router(opts, tx, health, name);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(cancel.cancelled_owned())
    .await
}

fn router(
    opts: &ReceiverOptions,
    tx: mpsc::Sender<SourceItem>,
    health: HealthRegistry,
    name: &str,
) -> Router {
    let state = AppState {
        tx,
        token: opts.token.as_deref().map(Arc::from),
        max_body: opts.max_body_bytes,
        health,
        name: Arc::from(name),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/", post(ingest))
        .fallback(post(ingest))
        .layer(DefaultBodyLimit::max(opts.max_body_bytes))
        .with_state(state)
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reply(status: StatusCode, msg: &str) -> Response {
    (
        status,
        format!("{{\"error\":{}}}\n", serde_json::Value::from(msg)),
    )
        .into_response()
}

async fn ingest(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = &st.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same(given.as_bytes(), token.as_bytes()) {
            return reply(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ctype.starts_with("text/plain") {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Falco sent plain text: set json_output: true",
        );
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
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
    for item in items {
        // Backpressure: waits while the engine is behind; never drops.
        if st.tx.send(item).await.is_err() {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "pipeline is shutting down");
        }
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
