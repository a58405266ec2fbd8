//! The daemon side: the `tfdrift.v1.Daemon` service over the store and the pipeline's live
//! counters, plus the standard `grpc.health.v1` service, on TCP with optional TLS (rustls).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::auth::{Gate, require};
use super::proto::{self as pb};
use super::proto_server::daemon_server::{Daemon, DaemonServer};
use super::settings::ApiSettings;
use super::tokens::{Role, TokenFile};
use super::{convert, watch as watch_stream};
use crate::pipeline::Stats;
use crate::store::journal::{AlertFilter, Journal, State};
use crate::store::{StoreError, Target};

/// Everything the handlers read: the store, the live counters, the wake-up signal and the
/// fan-out of journal entries to the watchers.
pub struct ApiState {
    /// The daemon's store (the journal and everything else).
    pub store: Arc<dyn Journal>,
    /// Pipeline counters and sources' health, as the engine publishes them.
    pub stats: watch::Receiver<Stats>,
    /// Bumped after every commit the daemon knows of (alerts delivered, actions): wakes the
    /// journal reader at once instead of at its next poll.
    pub wake: watch::Sender<u64>,
    /// The profile the daemon runs.
    pub profile: String,
    /// When the daemon started.
    pub started: Instant,
    /// Stops the watch streams and the journal reader (so a graceful shutdown does not wait
    /// for them).
    pub cancel: CancellationToken,
    /// Journal entries as they are committed, read once for every watcher; its capacity is
    /// the per-watcher buffer (a watcher further behind is told it lagged and reads the store).
    pub(crate) events: tokio::sync::broadcast::Sender<Arc<watch_stream::Published>>,
    /// The daemon's rules, for the Rules calls ([`ApiState::with_rules`]).
    pub(crate) rules: Option<Arc<super::rules::RulesApi>>,
    /// Remediation behind approval ([`ApiState::with_remediation`]).
    pub(crate) remediation: Option<Arc<super::remediation::RemediationApi>>,
}

impl ApiState {
    /// State over `store` and the pipeline's counters; `watch_buffer` entries per watcher (at
    /// least [`super::watch::MIN_BUFFER`]).
    #[must_use]
    pub fn new(
        store: Arc<dyn Journal>,
        stats: watch::Receiver<Stats>,
        profile: String,
        watch_buffer: usize,
    ) -> Self {
        ApiState {
            store,
            stats,
            wake: watch::Sender::new(0),
            profile,
            started: Instant::now(),
            cancel: CancellationToken::new(),
            events: tokio::sync::broadcast::Sender::new(watch_buffer.max(super::watch::MIN_BUFFER)),
            rules: None,
            remediation: None,
        }
    }

    /// Wakes the journal reader: something was committed.
    pub fn poke(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Settings refused (address, exposure).
    #[error(transparent)]
    Settings(#[from] super::settings::ApiSettingsError),
    /// A TLS or tokens file problem.
    #[error("{0}")]
    File(String),
    /// The address cannot be bound.
    #[error(
        "cannot listen on api.listen '{addr}': {source} (is another daemon running there? pick another port)"
    )]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TLS configuration rejected.
    #[error("api.tls: {0} (check that cert and key are PEM and belong together)")]
    Tls(String),
}

/// Runs a store call on a blocking thread (SQLite waits on locks and fsyncs).
pub async fn blocking<T: Send + 'static>(
    state: &Arc<ApiState>,
    f: impl FnOnce(&dyn Journal) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| Status::internal(format!("store task failed: {e}")))?
        .map_err(|e| Status::unavailable(e.to_string()))
}

/// The service.
pub struct DaemonService {
    state: Arc<ApiState>,
}

fn bad(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg.into())
}

#[tonic::async_trait]
impl Daemon for DaemonService {
    async fn hello(
        &self,
        req: Request<pb::HelloRequest>,
    ) -> Result<Response<pb::HelloReply>, Status> {
        let caller = require(&req, Role::Viewer, "hello")?;
        let bounds = blocking(&self.state, |s| s.journal_bounds()).await?;
        Ok(Response::new(pb::HelloReply {
            protocol: super::protocol(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            profile: self.state.profile.clone(),
            uptime_seconds: self.state.started.elapsed().as_secs(),
            caller: caller.name,
            role: caller.role.as_str().to_string(),
            cursor: bounds.newest,
        }))
    }

    type WatchStream =
        tokio_stream::wrappers::ReceiverStream<Result<watch_stream::Encoded, Status>>;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let caller = require(&req, Role::Viewer, "watching")?;
        let r = req.into_inner();
        tracing::info!(caller = %caller.name, since = r.since, "Watcher attached");
        Ok(Response::new(watch_stream::start(
            self.state.clone(),
            r.since,
            r.snapshot_alerts,
        )))
    }

    async fn get_alert(
        &self,
        req: Request<pb::GetAlertRequest>,
    ) -> Result<Response<pb::AlertDetail>, Status> {
        require(&req, Role::Viewer, "reading alerts")?;
        let id = req.into_inner().id;
        let key = id.clone();
        let found = blocking(&self.state, move |s| s.alert_detail(&key)).await?;
        let (row, acks) = found.ok_or_else(|| Status::not_found(format!("no alert '{id}'")))?;
        Ok(Response::new(pb::AlertDetail {
            alert: Some(convert::alert(&row)),
            acks: acks.iter().map(convert::ack).collect(),
        }))
    }

    async fn list_alerts(
        &self,
        req: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsReply>, Status> {
        require(&req, Role::Viewer, "listing alerts")?;
        let r = req.into_inner();
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        let state = match r.status.as_str() {
            "" => None,
            s => Some(State::parse(s).ok_or_else(|| {
                bad(format!(
                    "status '{s}' is not one of new, acknowledged, snoozed, resolved"
                ))
            })?),
        };
        let filter = AlertFilter {
            severity: nonempty(r.severity),
            kind: nonempty(r.kind),
            resource: nonempty(r.resource),
            state,
            since: convert::parse_time("since", &r.since).map_err(bad)?,
        };
        let after = match r.page_token.split_once('|') {
            Some((t, id)) => Some((
                t.parse::<i64>()
                    .map_err(|_| bad("page_token is not one this daemon issued"))?,
                id.to_string(),
            )),
            None if r.page_token.is_empty() => None,
            None => return Err(bad("page_token is not one this daemon issued")),
        };
        let size = match r.page_size {
            0 => 100,
            n => usize::try_from(n).unwrap_or(1000).min(1000),
        };
        let page = blocking(&self.state, move |s| {
            s.list_alerts(&filter, after.as_ref(), size)
        })
        .await?;
        Ok(Response::new(pb::ListAlertsReply {
            alerts: page.alerts.iter().map(convert::alert).collect(),
            next_page_token: page
                .next
                .map(|(t, id)| format!("{t}|{id}"))
                .unwrap_or_default(),
        }))
    }

    async fn resource_history(
        &self,
        req: Request<pb::ResourceHistoryRequest>,
    ) -> Result<Response<pb::ResourceHistoryReply>, Status> {
        require(&req, Role::Viewer, "reading history")?;
        let r = req.into_inner();
        if r.resource.is_empty() {
            return Err(bad("resource is empty: give the store key `type:id`"));
        }
        let days = if r.days == 0 { 7 } else { r.days.min(366) };
        let since = Utc::now() - chrono::Duration::days(i64::from(days));
        let rows = blocking(&self.state, move |s| s.history(&r.resource, since)).await?;
        Ok(Response::new(pb::ResourceHistoryReply {
            entries: rows
                .into_iter()
                .map(|h| pb::HistoryEntry {
                    time: convert::time(h.time),
                    address: h.address.unwrap_or_default(),
                    actor: h.actor.unwrap_or_default(),
                    kind: h.kind,
                    event_name: h.event_name,
                    event_id: h.event_id,
                    alert_id: h.alert_id,
                })
                .collect(),
        }))
    }

    async fn get_stats(
        &self,
        req: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsReply>, Status> {
        require(&req, Role::Viewer, "reading stats")?;
        let stats = convert::stats(&self.state.stats.borrow());
        let outbox = blocking(&self.state, |s| s.outbox_counts()).await?;
        let outbox: serde_json::Map<String, serde_json::Value> = outbox
            .into_iter()
            .map(|(st, n)| (st.as_str().to_string(), n.into()))
            .collect();
        Ok(Response::new(pb::StatsReply {
            stats: Some(stats),
            outbox_json: serde_json::Value::Object(outbox).to_string(),
        }))
    }

    async fn act(&self, req: Request<pb::ActRequest>) -> Result<Response<pb::ActReply>, Status> {
        let caller = require(
            &req,
            Role::Responder,
            "acknowledging, snoozing, resolving or reopening alerts",
        )?;
        let r = req.into_inner();
        if !r.drift_id.is_empty() {
            return act_on_drift(&self.state, caller, r).await;
        }
        let state = match pb::Action::try_from(r.action).unwrap_or(pb::Action::Unspecified) {
            pb::Action::Ack => State::Acknowledged,
            pb::Action::Snooze => State::Snoozed,
            pb::Action::Resolve => State::Resolved,
            pb::Action::Reopen => State::New,
            pb::Action::Unspecified => {
                return Err(bad("action is missing: ACK, SNOOZE, RESOLVE or REOPEN"));
            }
        };
        let now = Utc::now();
        let until = convert::parse_time("until", &r.until).map_err(bad)?;
        if state == State::Snoozed && until.is_none_or(|u| u <= now) {
            return Err(bad("a snooze needs `until`, a time in the future"));
        }
        let id = r.alert_id.clone();
        let exists = blocking(&self.state, move |s| s.alert(&id)).await?;
        if exists.is_none() {
            return Err(Status::not_found(format!(
                "no alert '{}' in the daemon's store",
                r.alert_id
            )));
        }
        let note = (!r.note.is_empty()).then_some(r.note);
        let who = caller.name.clone();
        let (id, n) = (r.alert_id.clone(), note.clone());
        let cursor = blocking(&self.state, move |s| {
            s.act(&Target::Alert(id), state, &who, n.as_deref(), until, now)
        })
        .await?;
        self.state.poke();
        tracing::info!(alert = %r.alert_id, who = %caller.name, state = state.as_str(), cursor, "Alert status changed through the API");
        Ok(Response::new(pb::ActReply {
            cursor,
            status: Some(pb::AlertStatus {
                state: convert::state(state).into(),
                who: caller.name,
                at: convert::time(now),
                note: note.unwrap_or_default(),
                snoozed_until: until.map(convert::time).unwrap_or_default(),
            }),
        }))
    }

    async fn notify_retry(
        &self,
        req: Request<pb::NotifyRetryRequest>,
    ) -> Result<Response<pb::NotifyRetryReply>, Status> {
        let caller = require(&req, Role::Responder, "retrying notifications")?;
        let channel = req.into_inner().channel;
        let ch = (!channel.is_empty()).then_some(channel);
        let n = blocking(&self.state, move |s| {
            s.outbox_retry_failed(ch.as_deref(), Utc::now())
        })
        .await?;
        tracing::info!(who = %caller.name, requeued = n, "Failed notifications re-queued through the API");
        Ok(Response::new(pb::NotifyRetryReply {
            requeued: u64::try_from(n).unwrap_or(u64::MAX),
        }))
    }

    async fn list_rules(
        &self,
        req: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesReply>, Status> {
        super::rules::list(&self.state, req).await
    }

    async fn get_rule_file(
        &self,
        req: Request<pb::GetRuleFileRequest>,
    ) -> Result<Response<pb::RuleFile>, Status> {
        super::rules::get(&self.state, req).await
    }

    async fn validate_rules(
        &self,
        req: Request<pb::ValidateRulesRequest>,
    ) -> Result<Response<pb::ValidateRulesReply>, Status> {
        super::rules::validate(&self.state, req).await
    }

    async fn test_rules(
        &self,
        req: Request<pb::TestRulesRequest>,
    ) -> Result<Response<pb::TestRulesReply>, Status> {
        super::rules::test(&self.state, req).await
    }

    async fn save_rule_file(
        &self,
        req: Request<pb::SaveRuleFileRequest>,
    ) -> Result<Response<pb::SaveRuleFileReply>, Status> {
        super::rules::save(&self.state, req).await
    }

    async fn list_drifts(
        &self,
        req: Request<pb::ListDriftsRequest>,
    ) -> Result<Response<pb::ListDriftsReply>, Status> {
        super::drifts::list(&self.state, req).await
    }

    async fn get_drift(
        &self,
        req: Request<pb::GetDriftRequest>,
    ) -> Result<Response<pb::GetDriftReply>, Status> {
        super::drifts::get(&self.state, req).await
    }

    async fn list_workspace_runs(
        &self,
        req: Request<pb::ListWorkspaceRunsRequest>,
    ) -> Result<Response<pb::ListWorkspaceRunsReply>, Status> {
        super::workspaces::list(&self.state, req).await
    }

    async fn request_remediation(
        &self,
        req: Request<pb::RequestRemediationRequest>,
    ) -> Result<Response<pb::Remediation>, Status> {
        super::remediation::request(&self.state, req).await
    }

    async fn list_remediations(
        &self,
        req: Request<pb::ListRemediationsRequest>,
    ) -> Result<Response<pb::ListRemediationsReply>, Status> {
        super::remediation::list(&self.state, req).await
    }

    async fn get_remediation(
        &self,
        req: Request<pb::GetRemediationRequest>,
    ) -> Result<Response<pb::Remediation>, Status> {
        super::remediation::get(&self.state, req).await
    }

    async fn approve_remediation(
        &self,
        req: Request<pb::ApproveRemediationRequest>,
    ) -> Result<Response<pb::Remediation>, Status> {
        super::remediation::approve(&self.state, req).await
    }

    async fn reject_remediation(
        &self,
        req: Request<pb::RejectRemediationRequest>,
    ) -> Result<Response<pb::Remediation>, Status> {
        super::remediation::reject(&self.state, req).await
    }
}

/// `Act` on a drift (`drift_id` set): acknowledge, snooze or resolve it in the store as the
/// caller; the drift's event reaches every watcher through the journal.
async fn act_on_drift(
    state: &Arc<ApiState>,
    caller: super::tokens::Caller,
    r: pb::ActRequest,
) -> Result<Response<pb::ActReply>, Status> {
    use crate::store::DriftAction;
    let now = Utc::now();
    let until = convert::parse_time("until", &r.until).map_err(bad)?;
    let action = match pb::Action::try_from(r.action).unwrap_or(pb::Action::Unspecified) {
        pb::Action::Ack => DriftAction::Acknowledge,
        pb::Action::Snooze => match until {
            Some(u) if u > now => DriftAction::Snooze(u),
            _ => return Err(bad("a snooze needs `until`, a time in the future")),
        },
        pb::Action::Resolve => DriftAction::Resolve,
        pb::Action::Reopen | pb::Action::Unspecified => {
            return Err(bad(
                "a drift can be ACK, SNOOZE or RESOLVE (it reopens by itself when it recurs)",
            ));
        }
    };
    let (id, who) = (r.drift_id.clone(), caller.name.clone());
    let (drift, cursor) = blocking(state, move |s| {
        let d = s.drift_act(&id, action, &who, now)?;
        Ok((d, s.journal_bounds()?.newest))
    })
    .await?;
    let d = drift.ok_or_else(|| {
        Status::not_found(format!(
            "no unresolved drift '{}' in the daemon's store (unknown, or already resolved)",
            r.drift_id
        ))
    })?;
    state.poke();
    tracing::info!(drift = %d.id, who = %caller.name, status = d.status.as_str(), "Drift status changed through the API");
    let st = match d.status {
        crate::drift::Status::Open => State::New,
        crate::drift::Status::Acknowledged => State::Acknowledged,
        crate::drift::Status::Snoozed => State::Snoozed,
        crate::drift::Status::Resolved => State::Resolved,
    };
    Ok(Response::new(pb::ActReply {
        cursor,
        status: Some(pb::AlertStatus {
            state: convert::state(st).into(),
            who: caller.name,
            at: convert::time(now),
            note: r.note,
            snoozed_until: d.snoozed_until.map(convert::time).unwrap_or_default(),
        }),
    }))
}

fn read(what: &str, path: &std::path::Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|e| {
        ServeError::File(format!(
            "cannot read {what} '{}': {e} (fix the path under `api:` in the profile)",
            path.display()
        ))
    })
}

/// Starts the API on `settings.listen`; returns the bound address and the server task (it
/// ends when `state.cancel` fires).
pub async fn serve(
    settings: &ApiSettings,
    state: Arc<ApiState>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServeError> {
    let addr = settings.checked_addr()?;
    let tokens = match &settings.tokens_file {
        Some(p) => {
            Some(Arc::new(TokenFile::open(p).map_err(|e| {
                ServeError::File(format!("api.tokens_file: {e}"))
            })?))
        }
        None => None,
    };
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .tcp_nodelay(true);
    if let Some(tls) = &settings.tls {
        let cert = read("the API certificate (api.tls.cert)", &tls.cert)?;
        let key = read("the API key (api.tls.key)", &tls.key)?;
        let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &tls.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read(
                "the client CA (api.tls.client_ca)",
                ca,
            )?));
        }
        builder = builder
            .tls_config(cfg)
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: settings.listen.clone(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: settings.listen.clone(),
        source,
    })?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<DaemonServer<DaemonService>>().await;
    let cancel = state.cancel.clone();
    let start_at = blocking(&state, |s| s.journal_bounds())
        .await
        .map_err(|e| ServeError::File(format!("the store's change journal: {}", e.message())))?
        .newest;
    tokio::spawn(watch_stream::publish(state.clone(), start_at));
    let svc = DaemonServer::with_interceptor(DaemonService { state }, Gate::new(tokens));
    let router = builder.add_service(health).add_service(svc);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, cancel.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "The team API stopped");
        }
    });
    Ok((bound, task))
}
