//! The team-mode backend: the monitor attaches to a daemon over gRPC and runs no sources, no
//! store, no notifier. The watch stream's snapshot fills the feed and the open drifts; its
//! alerts, status changes (anyone's, with the token's name) and drift changes update them; the
//! counters come from the stream and from `GetStats` every [`STATS_EVERY`] (so an idle daemon
//! is not shown silent). Acts go through `Act`. The connection state is reported as
//! [`Event::Link`]; a lost link reconnects with backoff and resumes from its cursor.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Backend, DaemonLink, Event, LinkState, RulesHome, Stopping, forward_logs};
use crate::alert::Alert;
use crate::api::client::{Client, ClientError, ClientOptions, Update, WatchSession};
use crate::api::convert::{drift_from, parse_time, stats_from};
use crate::api::proto::{self as pb, watch_event::Item};
use crate::store::DriftAction;
use crate::tui::app::{Action, Effect};
use crate::tui::feed::{Handled, Status};
use crate::tui::logs::LogLine;

/// How often the counters are asked for.
pub const STATS_EVERY: Duration = Duration::from_secs(2);
/// Alerts the first snapshot carries (the feed holds this many in full without re-reading).
const SNAPSHOT_ALERTS: u32 = 2_000;

type Cache = Arc<Mutex<Option<Client>>>;

/// A monitor attached to a daemon.
pub struct Remote {
    opts: ClientOptions,
    logs: Option<mpsc::Receiver<LogLine>>,
    client: Cache,
    results: Option<mpsc::UnboundedSender<Action>>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Attaches (in [`Backend::start`]) to the daemon `opts` names.
    #[must_use]
    pub fn new(opts: ClientOptions, logs: mpsc::Receiver<LogLine>) -> Remote {
        Remote {
            opts,
            logs: Some(logs),
            client: Arc::default(),
            results: None,
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }
}

/// The cached connection for single calls, made when missing.
async fn client(cache: &Cache, opts: &ClientOptions) -> Result<Client, ClientError> {
    let mut c = cache.lock().await;
    if let Some(c) = c.as_ref() {
        return Ok(c.clone());
    }
    let made = Client::connect(opts).await?;
    *c = Some(made.clone());
    Ok(made)
}

/// Runs a call on the cached connection; a transport failure drops it (the next call
/// reconnects).
async fn call<T>(
    cache: &Cache,
    opts: &ClientOptions,
    f: impl AsyncFnOnce(&mut Client) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let mut c = client(cache, opts).await?;
    let r = f(&mut c).await;
    if r.as_ref().is_err_and(ClientError::retryable) {
        *cache.lock().await = None;
    }
    r
}

impl Backend for Remote {
    fn start(&mut self, events: mpsc::Sender<Event>, results: mpsc::UnboundedSender<Action>) {
        self.results = Some(results);
        if let Some(logs) = self.logs.take() {
            self.tasks
                .push(tokio::spawn(forward_logs(logs, events.clone())));
        }
        self.tasks.push(tokio::spawn(watch(
            self.opts.clone(),
            events.clone(),
            self.stop.clone(),
        )));
        self.tasks.push(tokio::spawn(poll_stats(
            self.client.clone(),
            self.opts.clone(),
            events,
            self.stop.clone(),
        )));
    }

    fn perform(&self, effect: Effect) -> Option<Effect> {
        let Some(tx) = self.results.clone() else {
            return Some(effect);
        };
        let (cache, opts) = (self.client.clone(), self.opts.clone());
        match effect {
            Effect::Persist {
                alert_id,
                status,
                verb,
            } => {
                tokio::spawn(persist(cache, opts, tx, alert_id, status, verb));
                None
            }
            Effect::LoadAlert { id } => {
                tokio::spawn(async move {
                    let r = call(&cache, &opts, async |c| c.get_alert(&id).await).await;
                    let _ = tx.send(match r.map(|d| d.alert.map(|a| parse_alert(&a.json))) {
                        Ok(Some(Ok(a))) => Action::AlertLoaded(Box::new(a)),
                        Ok(Some(Err(e))) => notice(format!("Alert {id} from the daemon: {e}")),
                        Ok(None) => notice(format!("The daemon has no alert {id}")),
                        Err(e) => notice(format!("Cannot read alert {id} from the daemon: {e}")),
                    });
                });
                None
            }
            Effect::DriftAct { id, action, verb } => {
                tokio::spawn(async move {
                    let (act, until) = match action {
                        DriftAction::Acknowledge => (pb::Action::Ack, None),
                        DriftAction::Snooze(u) => {
                            (pb::Action::Snooze, Some(crate::api::convert::time(u)))
                        }
                        DriftAction::Resolve => (pb::Action::Resolve, None),
                    };
                    let r = call(&cache, &opts, async |c| {
                        c.act_drift(&id, act, until.as_deref()).await
                    })
                    .await;
                    let _ = tx.send(match r {
                        Ok(reply) => Action::Notice {
                            text: format!(
                                "Drift {verb} · recorded on the daemon as {}",
                                reply.status.map(|s| s.who).unwrap_or_default()
                            ),
                            error: false,
                        },
                        Err(e) => notice(format!("Drift not {verb}: {e}")),
                    });
                });
                None
            }
            Effect::LoadOccurrences { drift_id } => {
                tokio::spawn(async move {
                    let limit = crate::tui::now::occurrences::LIMIT;
                    let r =
                        call(&cache, &opts, async |c| c.get_drift(&drift_id, limit).await).await;
                    let result = match r {
                        Ok(reply) => reply
                            .occurrences
                            .iter()
                            .map(|a| {
                                parse_alert(&a.json).map_err(|e| format!("alert {}: {e}", a.id))
                            })
                            .collect(),
                        Err(e) => Err(format!("the daemon: {e}")),
                    };
                    let _ = tx.send(Action::Occurrences { drift_id, result });
                });
                None
            }
            Effect::LoadWorkspaces => {
                tokio::spawn(async move {
                    let r = call(&cache, &opts, async |c| c.list_workspace_runs().await).await;
                    let rows = match r {
                        Ok(reply) => reply
                            .runs
                            .iter()
                            .map(crate::api::workspaces::from_proto)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| format!("the daemon's reconcile board: {e}")),
                        Err(e) => Err(format!(
                            "cannot read the reconcile board from the daemon: {e}"
                        )),
                    };
                    let _ = tx.send(Action::WorkspaceRuns(rows));
                });
                None
            }
            other => Some(other),
        }
    }

    fn rules_home(&self) -> RulesHome {
        RulesHome::Daemon(self.opts.url.clone())
    }

    fn stop(self: Box<Self>) -> Stopping {
        let Remote { stop, tasks, .. } = *self;
        Box::pin(async move {
            stop.cancel();
            for t in tasks {
                if tokio::time::timeout(Duration::from_secs(1), t)
                    .await
                    .is_err()
                {
                    tracing::debug!("A team-mode task did not stop within 1 s");
                }
            }
        })
    }
}

fn notice(text: String) -> Action {
    Action::Notice { text, error: true }
}

/// An alert's `tfdrift.alert/v1` line.
fn parse_alert(json: &str) -> Result<Alert, String> {
    serde_json::from_str(json).map_err(|e| format!("not a tfdrift.alert/v1 line: {e}"))
}

/// An API status as the feed's, with who set it.
fn status_of(s: &pb::AlertStatus) -> (Status, Option<Handled>) {
    let at = parse_time("at", &s.at).ok().flatten();
    let status = match pb::AlertState::try_from(s.state).unwrap_or(pb::AlertState::Unspecified) {
        pb::AlertState::Acknowledged => Status::Acked,
        pb::AlertState::Resolved => Status::Resolved,
        pb::AlertState::Snoozed => match parse_time("snoozed_until", &s.snoozed_until) {
            Ok(Some(until)) => Status::Snoozed(until),
            _ => Status::Acked,
        },
        pb::AlertState::New | pb::AlertState::Unspecified => Status::New,
    };
    let by = (status != Status::New && !s.who.is_empty()).then(|| Handled {
        who: s.who.clone(),
        at: at.unwrap_or_else(Utc::now),
    });
    (status, by)
}

/// Records a new status through `Act`; the row shows the name the daemon recorded. Refused or
/// failed: says why and puts back the daemon's status.
async fn persist(
    cache: Cache,
    opts: ClientOptions,
    tx: mpsc::UnboundedSender<Action>,
    alert_id: String,
    status: Status,
    verb: String,
) {
    let (action, until) = match status {
        Status::Acked => (pb::Action::Ack, None),
        Status::Snoozed(u) => (pb::Action::Snooze, Some(crate::api::convert::time(u))),
        Status::Resolved => (pb::Action::Resolve, None),
        Status::New => (pb::Action::Reopen, None),
    };
    let r = call(&cache, &opts, async |c| {
        c.act(&alert_id, action, None, until.as_deref()).await
    })
    .await;
    match r {
        Ok(reply) => {
            let st = reply.status.unwrap_or_default();
            let (_, by) = status_of(&st);
            let _ = tx.send(Action::StatusChanged(alert_id, status, by));
            let _ = tx.send(Action::Notice {
                text: format!("Alert {verb} · recorded on the daemon as {}", st.who),
                error: false,
            });
        }
        Err(e) => {
            let _ = tx.send(notice(format!("Alert not {verb}: {e}")));
            let truth = call(&cache, &opts, async |c| c.get_alert(&alert_id).await).await;
            if let Some(st) = truth.ok().and_then(|d| d.alert).and_then(|a| a.status) {
                let (status, by) = status_of(&st);
                let _ = tx.send(Action::StatusChanged(alert_id, status, by));
            }
        }
    }
}

/// The counters of a stream or `GetStats` item, and the source names for the header.
fn stats_events(stats_json: &str) -> Vec<Event> {
    match stats_from(stats_json) {
        Ok(s) => {
            let names = s.sources.keys().cloned().collect();
            vec![
                Event::Sources(names),
                Event::Action(Action::Stats(Box::new(s))),
            ]
        }
        Err(e) => {
            tracing::warn!(error = %e, "The daemon's counters cannot be read");
            Vec::new()
        }
    }
}

/// What one stream item means for the monitor.
pub(crate) fn translate(ev: pb::WatchEvent) -> Vec<Event> {
    let Some(item) = ev.item else {
        return Vec::new();
    };
    let act = |a| vec![Event::Action(a)];
    match item {
        Item::Snapshot(s) => snapshot(&s),
        Item::Alert(a) => match parse_alert(&a.json) {
            Ok(alert) => act(Action::Alerts(vec![alert])),
            Err(e) => act(notice(format!("The daemon sent alert {}: {e}", a.id))),
        },
        Item::Status(c) if !c.alert_id.is_empty() => {
            let (status, by) = status_of(&c.status.unwrap_or_default());
            act(Action::StatusChanged(c.alert_id, status, by))
        }
        Item::Drift(c) => match c.drift.as_ref().map(drift_from) {
            Some(Ok(d)) => act(Action::DriftChanged(Box::new(d))),
            Some(Err(e)) => act(notice(format!("The daemon sent a drift change: {e}"))),
            None => Vec::new(),
        },
        Item::Stats(s) => stats_events(&s.stats_json),
        Item::Lagged(l) => {
            tracing::info!(
                cursor = l.cursor,
                newest = l.newest,
                "This monitor fell behind the daemon's stream; resuming from its cursor (nothing is lost)"
            );
            Vec::new()
        }
        Item::Status(_) | Item::Other(_) => Vec::new(),
    }
}

/// A snapshot: the newest alerts with their statuses, the open drifts, the counters.
fn snapshot(s: &pb::Snapshot) -> Vec<Event> {
    let mut out = Vec::new();
    let mut list = Vec::with_capacity(s.alerts.len());
    let mut bad = Vec::new();
    let mut changed = Vec::new();
    for a in s.alerts.iter().rev() {
        match parse_alert(&a.json) {
            Ok(alert) => {
                let (status, by) = status_of(&a.status.clone().unwrap_or_default());
                if s.reset && status != Status::New {
                    changed.push(Action::StatusChanged(a.id.clone(), status, by.clone()));
                }
                list.push((alert, status, by));
            }
            Err(e) => bad.push(format!("{}: {e}", a.id)),
        }
    }
    if s.reset {
        out.push(Event::Action(Action::Notice {
            text: format!(
                "The daemon could not replay from cursor {} (beyond its retention): fresh snapshot at cursor {}",
                s.requested_since, s.cursor
            ),
            error: true,
        }));
    }
    out.push(Event::Action(Action::Restored(list)));
    out.extend(changed.into_iter().map(Event::Action));
    let drifts: Result<Vec<_>, String> = s.open_drifts.iter().map(drift_from).collect();
    match drifts {
        Ok(d) => out.push(Event::Action(Action::Drifts(d))),
        Err(e) => bad.push(e),
    }
    out.extend(stats_events(&s.stats_json));
    if let Some(first) = bad.first() {
        out.push(Event::Action(notice(format!(
            "{} item(s) of the daemon's snapshot cannot be read; first: {first}",
            bad.len()
        ))));
    }
    out
}

/// Follows the daemon's watch stream, reconnecting with backoff and resuming from the
/// cursor; reports the link's state as it goes.
async fn watch(opts: ClientOptions, tx: mpsc::Sender<Event>, stop: CancellationToken) {
    let mut link = DaemonLink::connecting(&opts.url);
    let mut session = WatchSession::new(opts, 0).with_snapshot_alerts(SNAPSHOT_ALERTS);
    if tx.send(Event::Link(link.clone())).await.is_err() {
        return;
    }
    loop {
        let update = tokio::select! {
            () = stop.cancelled() => return,
            u = session.next() => u,
        };
        let events = match update {
            Update::Connected(h) => {
                link.state = LinkState::Connected;
                link.caller = Some((h.caller, h.role));
                link.version = h.version;
                link.profile = h.profile;
                link.started = Some(
                    Utc::now()
                        - chrono::Duration::seconds(
                            i64::try_from(h.uptime_seconds).unwrap_or(i64::MAX / 1000),
                        ),
                );
                tracing::info!(daemon = %link.addr, cursor = session.cursor(), "Attached to the daemon");
                vec![Event::Link(link.clone())]
            }
            Update::Event(ev) => translate(*ev),
            Update::Reconnecting { error, retry_in } => {
                let at: DateTime<Utc> =
                    Utc::now() + chrono::Duration::from_std(retry_in).unwrap_or_default();
                link.state = LinkState::Reconnecting {
                    at,
                    why: error.to_string(),
                };
                tracing::warn!(%error, retry_in_ms = retry_in.as_millis(), cursor = session.cursor(), "Daemon link lost; reconnecting");
                if tx.send(Event::Link(link.clone())).await.is_err() {
                    return;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = WatchSession::wait(retry_in) => {}
                }
                continue;
            }
            Update::Refused(e) => {
                link.state = LinkState::Refused(e.to_string());
                let _ = tx.send(Event::Link(link.clone())).await;
                let _ = tx
                    .send(Event::Action(notice(format!(
                        "The daemon refuses this monitor: {e}"
                    ))))
                    .await;
                return;
            }
        };
        for e in events {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// Asks for the counters every [`STATS_EVERY`] (quiet when the daemon is away: the watch
/// reports the link).
async fn poll_stats(
    cache: Cache,
    opts: ClientOptions,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(STATS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let r = tokio::select! {
            () = stop.cancelled() => return,
            r = call(&cache, &opts, async |c| c.stats().await) => r,
        };
        let Ok(reply) = r else { continue };
        for e in stats_events(&reply.stats.unwrap_or_default().stats_json) {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    }
}
