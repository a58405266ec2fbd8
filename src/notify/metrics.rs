//! The daemon's HTTP endpoint: `/healthz` and Prometheus `/metrics` (events, alerts, drops,
//! queue depths, per-source lag, per-channel deliveries and failures, the reconcile gauges of
//! each workspace's latest run), loopback by default,
//! optional bearer token. The text format is rendered directly from the pipeline and
//! notification counters (a dozen metric families: a Prometheus client crate would add a
//! registry to keep in sync with these counters and save no code); outbox depths come from one
//! `COUNT … GROUP BY` per scrape. Served by [`crate::collect::listener`]: header timeout,
//! connection cap, counters of refused and timed-out connections (its own and the Falco
//! receivers').

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::NotifyStats;
use crate::collect::listener::{self, ConnCounters, ListenLimits};
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

/// The state the handlers see: the caller's plus this listener's own connection counters.
struct Served {
    st: MetricsState,
    conns: Arc<ConnCounters>,
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
    let skipped: Vec<(String, u64)> = s
        .skipped
        .iter()
        .map(|(k, v)| (format!("{{reason=\"{}\"}}", esc(k)), *v))
        .collect();
    counter(
        &mut out,
        "tfdrift_events_skipped_total",
        "Events dropped without an alert, by reason (read-only, failed call, Terraform itself…).",
        "counter",
        &skipped,
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
    counter(
        &mut out,
        "tfdrift_store_commits_total",
        "Store transactions that recorded alerts (one per group of events).",
        "counter",
        &[(String::new(), s.store_commits)],
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
    sources(&mut out, &s.sources);
    if let Some(store) = &st.store {
        let store = store.clone();
        let (depth, failed, drifts, spans, runs) = tokio::task::spawn_blocking(move || {
            (
                store.outbox_counts().unwrap_or_default(),
                store
                    .outbox_counts_by_channel(OutboxStatus::Failed)
                    .unwrap_or_default(),
                store
                    .drifts(&crate::store::DriftFilter::default())
                    .unwrap_or_default(),
                store.drift_resolved_spans().unwrap_or_default(),
                store.latest_workspace_runs().unwrap_or_default(),
            )
        })
        .await
        .unwrap_or_default();
        out.push_str(&crate::drift::metrics_text(&drifts, chrono::Utc::now()));
        out.push_str(&crate::drift::time_to_resolve_text(&spans));
        // The reconcile board, per workspace, from the latest stored run of each (none until a
        // reconcile has run: no empty families for profiles without workspaces).
        if !runs.is_empty() {
            out.push_str(&crate::reconcile::metrics::metrics_text(&runs));
        }
        let depth: Vec<(String, u64)> = [
            OutboxStatus::Pending,
            OutboxStatus::Sending,
            OutboxStatus::Delivered,
            OutboxStatus::Failed,
        ]
        .into_iter()
        .map(|status| {
            let n = depth
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            (format!("{{status=\"{}\"}}", status.as_str()), n)
        })
        .collect();
        counter(
            &mut out,
            "tfdrift_outbox_depth",
            "Outbox items by status.",
            "gauge",
            &depth,
        );
        let failed: Vec<(String, u64)> = failed
            .into_iter()
            .map(|(c, n)| (format!("{{channel=\"{}\"}}", esc(&c)), n))
            .collect();
        counter(
            &mut out,
            "tfdrift_outbox_failed",
            "Outbox items given up on, by channel (`tfdrift notify retry` re-queues them).",
            "gauge",
            &failed,
        );
    }
    out
}

/// Per-source health: lag, connection, events, errors.
fn sources(
    out: &mut String,
    sources: &std::collections::BTreeMap<String, crate::collect::health::SourceHealth>,
) {
    let label =
        |name: &str, kind: &str| format!("{{source=\"{}\",kind=\"{}\"}}", esc(name), esc(kind));
    let lag: Vec<(String, f64)> = sources
        .iter()
        .filter_map(|(n, h)| {
            #[allow(clippy::cast_precision_loss)]
            h.lag_ms.map(|ms| (label(n, &h.kind), ms as f64 / 1000.0))
        })
        .collect();
    let _ = writeln!(
        out,
        "# HELP tfdrift_source_lag_seconds Receive time minus event time of the last event, per source.\n# TYPE tfdrift_source_lag_seconds gauge"
    );
    for (l, v) in lag {
        let _ = writeln!(out, "tfdrift_source_lag_seconds{l} {v}");
    }
    let per = |f: fn(&crate::collect::health::SourceHealth) -> u64| -> Vec<(String, u64)> {
        sources
            .iter()
            .map(|(n, h)| (label(n, &h.kind), f(h)))
            .collect()
    };
    counter(
        out,
        "tfdrift_source_connected",
        "1 when the source's last call succeeded.",
        "gauge",
        &per(|h| u64::from(h.connected)),
    );
    counter(
        out,
        "tfdrift_source_events_total",
        "Events a source handed to the pipeline.",
        "counter",
        &per(|h| h.events),
    );
    counter(
        out,
        "tfdrift_source_errors_total",
        "Errors per source (service calls, fetches, bad requests).",
        "counter",
        &per(|h| h.errors),
    );
    let listeners = |f: fn(&crate::collect::health::SourceHealth) -> u64| -> Vec<(String, u64)> {
        sources
            .iter()
            .filter(|(_, h)| h.kind == "falco_http")
            .map(|(n, h)| (label(n, &h.kind), f(h)))
            .collect()
    };
    counter(
        out,
        "tfdrift_source_connections_open",
        "Open connections per listening source.",
        "gauge",
        &listeners(|h| h.connections_open),
    );
    counter(
        out,
        "tfdrift_source_connections_refused_total",
        "Connections a listening source refused because its max_connections were open.",
        "counter",
        &listeners(|h| h.connections_refused),
    );
    counter(
        out,
        "tfdrift_source_connections_timed_out_total",
        "Connections a listening source closed because a request header or body came too slowly.",
        "counter",
        &listeners(|h| h.connections_timed_out),
    );
    counter(
        out,
        "tfdrift_source_unauthorized_total",
        "Requests a listening source refused for a missing or wrong bearer token.",
        "counter",
        &listeners(|h| h.unauthorized),
    );
}

/// This endpoint's own connection counters.
fn own_connections(out: &mut String, c: &ConnCounters) {
    let c = c.snapshot();
    counter(
        out,
        "tfdrift_metrics_connections_open",
        "Open connections to this endpoint.",
        "gauge",
        &[(String::new(), c.open)],
    );
    counter(
        out,
        "tfdrift_metrics_connections_refused_total",
        "Connections to this endpoint refused over its connection cap.",
        "counter",
        &[(String::new(), c.refused)],
    );
    counter(
        out,
        "tfdrift_metrics_connections_timed_out_total",
        "Connections to this endpoint closed for a slow request header.",
        "counter",
        &[(String::new(), c.timed_out)],
    );
    counter(
        out,
        "tfdrift_metrics_unauthorized_total",
        "Requests to this endpoint refused for a missing or wrong bearer token.",
        "counter",
        &[(String::new(), c.unauthorized)],
    );
}

async fn metrics(State(sv): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let st = &sv.st;
    if let Some(tok) = &st.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !listener::bearer_matches(given, tok) {
            if sv.conns.count_unauthorized() {
                tracing::warn!("/metrics request without the right bearer token refused");
            }
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONNECTION, "close")],
                "bearer token required\n",
            )
                .into_response();
        }
    }
    let mut body = render(st).await;
    own_connections(&mut body, &sv.conns);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Binds `listen` and serves until `stop`, with the default [`ListenLimits`]. Returns the
/// bound address (port 0 picks one).
pub async fn serve(
    listen: &str,
    state: MetricsState,
    stop: CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    serve_with(listen, state, ListenLimits::default(), stop).await
}

/// [`serve`] with explicit read timeouts and connection cap.
pub async fn serve_with(
    listen: &str,
    state: MetricsState,
    limits: ListenLimits,
    stop: CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, auth = state.token.is_some(), "Metrics endpoint listens beyond loopback");
    }
    let conns = Arc::new(ConnCounters::default());
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(Served {
            st: state,
            conns: conns.clone(),
        }));
    tokio::spawn(async move {
        let _ = listener::serve(listener, app, limits, conns, None, "metrics", stop).await;
    });
    Ok(addr)
}
