//! The daemon's HTTP endpoint: `/healthz` and Prometheus `/metrics` (events, alerts, drops,
//! queue depths, per-channel deliveries and failures), loopback by default, optional bearer
//! token. The text format is rendered directly from the pipeline and notification counters.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::NotifyStats;
use crate::pipeline::Stats;
use crate::store::{OutboxStatus, Store};

/// What `/metrics` reads.
#[derive(Clone)]
pub struct MetricsState {
    /// Pipeline counters.
    pub stats: watch::Receiver<Stats>,
    /// Notification counters (when channels are configured).
    pub notify: Option<Arc<NotifyStats>>,
    /// Store, for outbox depth.
    pub store: Option<Arc<dyn Store>>,
    /// Alerts suppressed by dedupe.
    pub deduped: Option<Arc<super::NotifyRouter>>,
    /// Bearer token `/metrics` requires.
    pub token: Option<String>,
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders the Prometheus text format.
pub async fn render(st: &MetricsState) -> String {
    let s = st.stats.borrow().clone();
    let mut out = String::new();
    counter(
        &mut out,
        "tfdrift_events_read_total",
        "Input units read.",
        "counter",
        &[(String::new(), s.records_read)],
    );
    counter(
        &mut out,
        "tfdrift_events_parsed_total",
        "Events parsed.",
        "counter",
        &[(String::new(), s.parsed)],
    );
    counter(
        &mut out,
        "tfdrift_events_unparseable_total",
        "Input units that could not be read (dropped).",
        "counter",
        &[(String::new(), s.unparseable)],
    );
    counter(
        &mut out,
        "tfdrift_events_duplicate_total",
        "Redelivered events dropped by dedupe.",
        "counter",
        &[(String::new(), s.duplicates)],
    );
    counter(
        &mut out,
        "tfdrift_events_unsupported_total",
        "Mutating events the catalog does not know.",
        "counter",
        &[(String::new(), s.unsupported)],
    );
    let kinds: Vec<(String, u64)> = s
        .alerts_by_kind
        .iter()
        .map(|(k, v)| (format!("{{kind=\"{}\"}}", esc(k)), *v))
        .collect();
    counter(
        &mut out,
        "tfdrift_alerts_total",
        "Alerts raised, by kind.",
        "counter",
        &kinds,
    );
    counter(
        &mut out,
        "tfdrift_store_errors_total",
        "Store reads or writes that failed.",
        "counter",
        &[(String::new(), s.store_errors)],
    );
    if let Some(n) = &st.notify {
        let snap = n.snapshot();
        let per = |f: fn(&super::worker::ChannelCounters) -> u64| -> Vec<(String, u64)> {
            snap.iter()
                .map(|(c, v)| (format!("{{channel=\"{}\"}}", esc(c)), f(v)))
                .collect()
        };
        counter(
            &mut out,
            "tfdrift_notify_sent_total",
            "Notifications delivered.",
            "counter",
            &per(|c| c.sent),
        );
        counter(
            &mut out,
            "tfdrift_notify_retried_total",
            "Delivery attempts that failed and were rescheduled.",
            "counter",
            &per(|c| c.retried),
        );
        counter(
            &mut out,
            "tfdrift_notify_failed_total",
            "Notifications given up on.",
            "counter",
            &per(|c| c.failed),
        );
        counter(
            &mut out,
            "tfdrift_notify_rate_limited_total",
            "Alerts held back by a channel rate limit.",
            "counter",
            &per(|c| c.rate_limited),
        );
        counter(
            &mut out,
            "tfdrift_notify_in_flight",
            "Notifications being sent.",
            "gauge",
            &[(
                String::new(),
                n.in_flight.load(std::sync::atomic::Ordering::Relaxed) as u64,
            )],
        );
    }
    if let Some(r) = &st.deduped {
        counter(
            &mut out,
            "tfdrift_notify_deduped_total",
            "Alerts not notified: identical drift within the dedupe window.",
            "counter",
            &[(
                String::new(),
                r.deduped.load(std::sync::atomic::Ordering::Relaxed),
            )],
        );
    }
    if let Some(store) = &st.store {
        let store = store.clone();
        let depth = tokio::task::spawn_blocking(move || {
            let p = store
                .outbox_list(OutboxStatus::Pending, 100_000)
                .map_or(0, |v| v.len());
            let f = store
                .outbox_list(OutboxStatus::Failed, 100_000)
                .map_or(0, |v| v.len());
            (p as u64, f as u64)
        })
        .await
        .unwrap_or((0, 0));
        counter(
            &mut out,
            "tfdrift_outbox_depth",
            "Outbox items by status.",
            "gauge",
            &[
                ("{status=\"pending\"}".into(), depth.0),
                ("{status=\"failed\"}".into(), depth.1),
            ],
        );
    }
    out
}

async fn metrics(State(st): State<Arc<MetricsState>>, headers: HeaderMap) -> Response {
    if let Some(tok) = &st.token {
        let ok = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|v| v == tok);
        if !ok {
            return (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&st).await,
    )
        .into_response()
}

/// Binds `listen` and serves until `stop`. Returns the bound address (port 0 picks one).
pub async fn serve(
    listen: &str,
    state: MetricsState,
    stop: CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, auth = state.token.is_some(), "Metrics endpoint listens beyond loopback");
    }
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(state));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(addr)
}
