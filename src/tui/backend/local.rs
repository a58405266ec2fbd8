//! The in-process backend (profiles without `daemon:`): the pipeline runs in this process; its
//! alerts (batched), counters and the monitor's logs are forwarded to the event loop; statuses
//! and drift actions are saved in the local store; recent alerts and open drifts are read from
//! it at start, and the drifts again after alerts arrive; the workspaces view's reconcile board
//! is read from it on request.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Backend, Event, RulesHome, Stopping, forward_logs};
use crate::pipeline::PipelineHandle;
use crate::store::Store;
use crate::tui::app::{Action, Effect};
use crate::tui::logs::LogLine;
use crate::tui::persist::{load_recent, persist_status};
use crate::tui::run::who;

/// Most alerts folded into one update (keeps a frame coming even under a flood).
const MAX_BATCH: usize = 50_000;

/// The pipeline in this process.
pub struct Local {
    handle: Option<PipelineHandle>,
    logs: Option<mpsc::Receiver<LogLine>>,
    store: Option<Arc<dyn Store>>,
    rule_watch: Option<crate::rules::watch::WatchStatus>,
    results: Option<mpsc::UnboundedSender<Action>>,
    stop: CancellationToken,
    pump: Option<tokio::task::JoinHandle<()>>,
    /// The unresolved drift ids the last load listed (one that leaves the set is re-read to
    /// say how it ended).
    listed: Listed,
}

/// The unresolved drift ids of the last load.
type Listed = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Local {
    /// Over a running pipeline, the store statuses are saved in (`None`: memory only) and the
    /// monitor's log lines.
    #[must_use]
    pub fn new(
        handle: PipelineHandle,
        store: Option<Arc<dyn Store>>,
        logs: mpsc::Receiver<LogLine>,
    ) -> Local {
        Local {
            rule_watch: handle.rule_watch.clone(),
            handle: Some(handle),
            logs: Some(logs),
            store,
            results: None,
            stop: CancellationToken::new(),
            pump: None,
            listed: Listed::default(),
        }
    }
}

impl Backend for Local {
    fn start(&mut self, events: mpsc::Sender<Event>, results: mpsc::UnboundedSender<Action>) {
        self.results = Some(results);
        if let Some(logs) = self.logs.take() {
            tokio::spawn(forward_logs(logs, events.clone()));
        }
        if let Some(store) = self.store.clone() {
            let tx = events.clone();
            let listed = self.listed.clone();
            tokio::task::spawn_blocking(move || {
                let action = match load_recent(store.as_ref(), Utc::now()) {
                    Ok(list) => Action::Restored(list),
                    Err(e) => Action::Notice {
                        text: format!("Cannot load recent alerts: {e}"),
                        error: true,
                    },
                };
                let _ = tx.blocking_send(Event::Action(action));
                let _ = tx.blocking_send(Event::Action(load_drifts(store.as_ref(), &listed)));
            });
        }
        if let Some(handle) = self.handle.take() {
            self.pump = Some(tokio::spawn(pump(
                handle,
                self.store.clone(),
                self.listed.clone(),
                events,
                self.stop.clone(),
            )));
        }
    }

    fn perform(&self, effect: Effect) -> Option<Effect> {
        if effect == Effect::LoadWorkspaces {
            let tx = self.results.clone()?;
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                let _ = tx.send(Action::WorkspaceRuns(load_workspaces(store.as_deref())));
            });
            return None;
        }
        let (Some(store), Some(tx)) = (self.store.clone(), self.results.clone()) else {
            return match effect {
                Effect::Persist { .. }
                | Effect::LoadAlert { .. }
                | Effect::DriftAct { .. }
                | Effect::LoadOccurrences { .. } => None,
                other => Some(other),
            };
        };
        match effect {
            Effect::Persist {
                alert_id,
                status,
                verb,
            } => {
                let at = Utc::now();
                tokio::task::spawn_blocking(move || {
                    let r = persist_status(store.as_ref(), &alert_id, status, &who(), at);
                    let _ = tx.send(match r {
                        Ok(()) => Action::Notice {
                            text: format!("Alert {verb} · saved in the store"),
                            error: false,
                        },
                        Err(e) => Action::Notice {
                            text: format!("Alert {verb} in memory only: saving failed: {e}"),
                            error: true,
                        },
                    });
                });
                None
            }
            Effect::LoadAlert { id } => {
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(match store.alert(&id) {
                        Ok(Some(a)) => Action::AlertLoaded(Box::new(a)),
                        Ok(None) => Action::Notice {
                            text: format!(
                                "Alert {id} is no longer in the store (retention): details are partial"
                            ),
                            error: true,
                        },
                        Err(e) => Action::Notice {
                            text: format!("Cannot read alert {id} from the store: {e}"),
                            error: true,
                        },
                    });
                });
                None
            }
            Effect::DriftAct { id, action, verb } => {
                let at = Utc::now();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(match store.drift_act(&id, action, &who(), at) {
                        Ok(Some(d)) => {
                            let _ = tx.send(Action::DriftChanged(Box::new(d)));
                            Action::Notice {
                                text: format!("Drift {verb} · saved in the store"),
                                error: false,
                            }
                        }
                        Ok(None) => Action::Notice {
                            text: format!("Drift {id} is unknown or already resolved"),
                            error: true,
                        },
                        Err(e) => Action::Notice {
                            text: format!("Drift not {verb}: saving failed: {e}"),
                            error: true,
                        },
                    });
                });
                None
            }
            Effect::LoadOccurrences { drift_id } => {
                tokio::task::spawn_blocking(move || {
                    let limit = crate::tui::now::occurrences::LIMIT as usize;
                    let result = crate::api::drifts::occurrences(store.as_ref(), &drift_id, limit)
                        .map_err(|e| format!("cannot read them from the store: {e}"));
                    let _ = tx.send(Action::Occurrences { drift_id, result });
                });
                None
            }
            other => Some(other),
        }
    }

    fn rules_home(&self) -> RulesHome {
        RulesHome::Local(self.rule_watch.clone())
    }

    fn stop(self: Box<Self>) -> Stopping {
        let Local { stop, pump, .. } = *self;
        Box::pin(async move {
            stop.cancel();
            if let Some(p) = pump {
                let _ = p.await;
            }
        })
    }
}

/// Forwards the pipeline's alerts (in batches) and counters; re-reads the open drifts once a
/// second while alerts arrive. On `stop`: closes the alert channel (so the engine never blocks
/// on it), cancels the pipeline and waits for it a bounded time.
async fn pump(
    mut handle: PipelineHandle,
    store: Option<Arc<dyn Store>>,
    listed: Listed,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
) {
    let mut alerts_open = true;
    let mut stats_open = true;
    let mut drifts_stale = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => break,
            a = handle.alerts.recv(), if alerts_open => match a {
                Some(a) => {
                    let mut batch = vec![a];
                    while batch.len() < MAX_BATCH {
                        match handle.alerts.try_recv() {
                            Ok(a) => batch.push(a),
                            Err(_) => break,
                        }
                    }
                    drifts_stale = true;
                    Action::Alerts(batch)
                }
                None => {
                    alerts_open = false;
                    Action::PipelineDone
                }
            },
            r = handle.stats.changed(), if stats_open => {
                if r.is_err() {
                    stats_open = false;
                }
                Action::Stats(Box::new(handle.stats.borrow_and_update().clone()))
            },
            _ = tick.tick() => {
                if std::mem::take(&mut drifts_stale)
                    && let Some(store) = store.clone()
                {
                    let tx = tx.clone();
                    let listed = listed.clone();
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.blocking_send(Event::Action(load_drifts(store.as_ref(), &listed)));
                    });
                }
                continue;
            },
        };
        tokio::select! {
            () = stop.cancelled() => break,
            r = tx.send(Event::Action(event)) => if r.is_err() { break },
        }
    }
    handle.alerts.close();
    handle.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(3), handle.join()).await;
}

/// Every unresolved drift in the store, as the action that replaces the monitor's set, with
/// the drifts the previous load listed that have resolved since (as stored: how, by whom), so
/// the board shows how they ended.
pub(crate) fn load_drifts(store: &dyn Store, listed: &Listed) -> Action {
    let filter = crate::store::DriftFilter {
        unresolved_only: true,
        ..crate::store::DriftFilter::default()
    };
    let mut list = match store.drifts(&filter) {
        Ok(list) => list,
        Err(e) => {
            return Action::Notice {
                text: format!("Cannot load open drifts: {e}"),
                error: true,
            };
        }
    };
    let now: std::collections::HashSet<String> = list.iter().map(|d| d.id.clone()).collect();
    let before = match listed.lock() {
        Ok(mut l) => std::mem::replace(&mut *l, now.clone()),
        Err(p) => std::mem::replace(&mut *p.into_inner(), now.clone()),
    };
    for id in before.difference(&now) {
        match store.drift(id) {
            Ok(Some(d)) if !d.is_unresolved() => list.push(d),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(drift = %id, error = %e, "Cannot re-read a drift that left the open set");
            }
        }
    }
    Action::Drifts(list)
}

/// The reconcile status board from the store, for the workspaces view.
pub(crate) fn load_workspaces(
    store: Option<&dyn Store>,
) -> Result<Vec<crate::reconcile::board::BoardRow>, String> {
    let Some(store) = store else {
        return Err(
            "no store configured: reconcile runs are kept in the store (add `store:` to the profile, then run `tfdrift reconcile`)"
                .into(),
        );
    };
    crate::reconcile::board::board(store)
        .map_err(|e| format!("cannot read the reconcile runs: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::drift::{Drift, DriftOp, Reason};
    use crate::store::{DriftAction, EventRecord};

    fn drifts(a: Action) -> Vec<Drift> {
        match a {
            Action::Drifts(d) => d,
            other => panic!("not drifts: {other:?}"),
        }
    }

    /// The golden EC2 alerts recorded as the pipeline records them (each with its drifts).
    fn recorded(store: &dyn Store) -> Vec<Alert> {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/aws-ec2/alerts.jsonl");
        let mut out = Vec::new();
        for (n, line) in std::fs::read_to_string(p).unwrap().lines().enumerate() {
            let mut a: Alert = serde_json::from_str(line).unwrap();
            let occ = crate::drift::occurrences(&a, "test");
            crate::drift::stamp(&mut a, &occ);
            let ops: Vec<DriftOp> = occ
                .into_iter()
                .map(|o| DriftOp::Occur(Box::new(o)))
                .collect();
            let key = format!("event-{n}");
            store
                .record_batch(&[EventRecord {
                    seen: &[key.as_str()],
                    time: Some(a.time),
                    alerts: std::slice::from_ref(&a),
                    outbox: &[],
                    drifts: &ops,
                }])
                .unwrap();
            out.push(a);
        }
        out
    }

    /// A drift that leaves the open set between two loads comes back once, as stored (how and
    /// by whom it ended), so the board can show it fading; a drift's occurrences are its
    /// alerts, newest first.
    #[test]
    fn a_drift_that_resolved_is_reported_once_and_occurrences_are_its_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(&dir.path().join("store.db")).unwrap();
        let alerts = recorded(&store);
        let listed = Listed::default();
        let first = drifts(load_drifts(&store, &listed));
        assert!(first.len() > 1, "{first:?}");
        assert!(first.iter().all(Drift::is_unresolved));
        let gone = first[0].id.clone();
        store
            .drift_act(&gone, DriftAction::Resolve, "alice", Utc::now())
            .unwrap()
            .unwrap();
        let second = drifts(load_drifts(&store, &listed));
        assert_eq!(second.len(), first.len());
        let d = second.iter().find(|d| d.id == gone).unwrap();
        assert!(!d.is_unresolved());
        assert_eq!(d.resolved_reason, Some(Reason::Manual));
        assert_eq!(d.resolved_by.as_deref(), Some("alice"));
        let third = drifts(load_drifts(&store, &listed));
        assert_eq!(third.len(), first.len() - 1, "reported once");

        let busiest = first.iter().max_by_key(|d| d.occurrences).unwrap();
        assert!(busiest.occurrences >= 2, "{busiest:?}");
        let mut want: Vec<&Alert> = alerts
            .iter()
            .filter(|a| {
                a.drift_id.as_deref() == Some(busiest.id.as_str())
                    || a.drift_ids.contains(&busiest.id)
            })
            .collect();
        want.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
        let got = crate::api::drifts::occurrences(&store, &busiest.id, 100).unwrap();
        assert_eq!(
            got.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            want.iter().map(|a| a.id.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(got.len() as u64, busiest.occurrences);
        let one = crate::api::drifts::occurrences(&store, &busiest.id, 1).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].id, want[0].id, "the newest");
    }
}
