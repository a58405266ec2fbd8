//! The live pipeline: background tokio tasks behind a [`PipelineHandle`].
//!
//! Sources send normalised events on a bounded channel (backpressure: a slow engine slows the
//! sources, nothing is dropped); the engine task turns them into alerts on a second bounded
//! channel and publishes counters through a `watch`. The handle is all a front end (headless
//! runner, TUI) sees. Cancellation drains: sources stop, the engine finishes what is queued.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::{Engine, EngineOptions, Signals};
use super::stats::Stats;
use crate::alert::Alert;
use crate::catalog::Catalog;
use crate::catalog::watch::CatalogWatcher;
use crate::config::{EMBEDDED_PREFIX, ReplaySettings};
use crate::event::CloudEvent;
use crate::input::{Document, expand_inputs, read_input_cut, split_documents};
use crate::normalize::{Normalized, normalize_document};
use crate::rules::{RuleSet, RuleWatcher};
use crate::state::StateIndex;
use crate::store::Store;

/// Capacity of the source → engine and engine → consumer channels.
const CHANNEL_CAPACITY: usize = 1024;

/// Most queued items taken for one group commit (one store transaction).
const GROUP_MAX: usize = 256;

/// How often the store is pruned of rows older than the retention.
const PRUNE_EVERY: Duration = Duration::from_hours(1);

/// What a source hands the engine.
#[derive(Debug)]
pub enum SourceItem {
    /// A normalised event.
    Event(Box<CloudEvent>),
    /// An input unit that was skipped (digest, test event …).
    Skipped(&'static str),
    /// An input unit that could not be read.
    Unparseable {
        /// `file:line`.
        origin: String,
        /// Why.
        reason: String,
    },
    /// Several items processed together; the engine replies on `ack` once every one of them
    /// went through [`Engine::process`] (so their alerts are recorded in the store). A live
    /// source deletes its message only after a clean acknowledgement.
    Batch {
        /// The items.
        items: Vec<SourceItem>,
        /// Where the engine reports the outcome.
        ack: oneshot::Sender<BatchAck>,
    },
    /// A refreshed state index (remote backends); `stale` names states whose last refresh
    /// failed (their last good copy is still in the index) with the reason.
    State {
        /// The new index.
        index: Arc<StateIndex>,
        /// State location → why it is stale.
        stale: std::collections::BTreeMap<String, String>,
    },
    /// Nothing to process: publish the counters (idle live sources refresh their health).
    Tick,
}

/// The engine's answer to a [`SourceItem::Batch`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchAck {
    /// Events processed.
    pub events: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Store failures while processing: the alerts were delivered but maybe not recorded,
    /// so the source must let the input be redelivered.
    pub store_errors: u64,
}

/// Everything needed to start the pipeline.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Engine settings.
    pub engine: EngineOptions,
    /// Recorded inputs replayed as a source (files, dirs, `embedded:`).
    pub inputs: Vec<String>,
    /// Pacing of `inputs`.
    pub replay: ReplaySettings,
    /// Stop after one pass even when `replay.loop` is set.
    pub once: bool,
    /// Rules in force at start.
    pub rules: Arc<RuleSet>,
    /// Rule files on disk, watched: a valid change is swapped in for the next event, an invalid
    /// one keeps the old rules and is logged.
    pub rule_paths: Vec<std::path::PathBuf>,
    /// Durable dedupe, alert log, history and outbox. Alerts are recorded before they reach
    /// the alert channel.
    pub store: Option<Arc<dyn Store>>,
    /// How long the store keeps rows (pruned hourly in the background); `None` = forever.
    pub retention: Option<chrono::Duration>,
    /// Notifications enqueued with each alert, in the alert's transaction (needs `store`).
    pub router: Option<Arc<dyn super::engine::OutboxRouter>>,
    /// Live sources (SQS, Falco HTTP …); they run until the pipeline is cancelled.
    pub sources: Vec<crate::collect::SourceSpec>,
    /// Remote state, refreshed in the background (with the local paths it is merged with).
    pub remote_state: Option<crate::state::remote::RemoteStateConfig>,
    /// AWS configuration (credentials …) for live sources and remote state instead of the
    /// environment's; region and endpoint still come from each source's settings.
    pub aws: Option<aws_config::SdkConfig>,
}

/// The front end's view of a running pipeline.
pub struct PipelineHandle {
    /// Alerts, in detection order. Bounded: a consumer that stops reading slows detection.
    pub alerts: mpsc::Receiver<Alert>,
    /// Latest counters.
    pub stats: watch::Receiver<Stats>,
    /// The rule watcher's counters and last errors, when rule files on disk are watched.
    pub rule_watch: Option<crate::rules::watch::WatchStatus>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl PipelineHandle {
    /// Asks every task to stop; queued events are still processed.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that is cancelled when the pipeline is asked to stop.
    #[must_use]
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits for every task to finish (after the sources ran out or `cancel`).
    pub async fn join(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Starts the pipeline's tasks. Must be called inside a tokio runtime.
pub fn spawn(
    catalog: Arc<Catalog>,
    state: Arc<StateIndex>,
    cfg: &PipelineConfig,
) -> Result<PipelineHandle, globset::Error> {
    let catalog_watcher = if catalog.user_specs().is_empty() {
        None
    } else {
        match CatalogWatcher::start(Arc::clone(&catalog), Duration::from_millis(200)) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot watch catalog files; they will not hot-reload");
                None
            }
        }
    };
    let mut engine = Engine::new(catalog, state, &cfg.engine)?;
    engine.set_rules(cfg.rules.clone());
    let watcher = if cfg.rule_paths.is_empty() {
        None
    } else {
        match RuleWatcher::start(&cfg.rule_paths, Duration::from_millis(200)) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot watch rule files; rules will not hot-reload");
                None
            }
        }
    };
    let rule_watch = watcher.as_ref().map(RuleWatcher::status);
    if let Some(store) = &cfg.store {
        engine = engine.with_store(store.clone());
        if let Some(router) = &cfg.router {
            engine = engine.with_outbox_router(router.clone());
        }
    }
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (event_tx, mut event_rx) = mpsc::channel::<SourceItem>(CHANNEL_CAPACITY);
    let (alert_tx, alert_rx) = mpsc::channel::<Alert>(CHANNEL_CAPACITY);
    let (stats_tx, stats_rx) = watch::channel(Stats::default());

    let health = crate::collect::health::HealthRegistry::default();
    let refresh = Arc::new(Notify::new());
    let live = !cfg.sources.is_empty() || cfg.remote_state.is_some();
    // With remote state, sources start once the first load is done (or after
    // STATE_READY_TIMEOUT): events checked against a not-yet-loaded state would all look
    // unmanaged.
    let ready = CancellationToken::new();
    if let Some(remote) = &cfg.remote_state {
        let (tx, cancel, notify) = (event_tx.clone(), cancel.clone(), refresh.clone());
        let (remote, aws, ready) = (remote.clone(), cfg.aws.clone(), ready.clone());
        tasks.spawn(async move {
            crate::state::remote::refresh_loop(remote, aws, tx, notify, cancel, ready).await;
        });
    } else {
        ready.cancel();
    }
    if !cfg.sources.is_empty() {
        let (tx, cancel, health, tracker) = (
            event_tx.clone(),
            cancel.clone(),
            health.clone(),
            tasks.clone(),
        );
        let (specs, aws, ready) = (cfg.sources.clone(), cfg.aws.clone(), ready.clone());
        tasks.spawn(async move {
            wait_ready(&ready).await;
            for spec in &specs {
                crate::collect::spawn_source(spec, &tx, &cancel, &health, &tracker, aws.as_ref());
            }
        });
    }
    if live {
        let (tx, cancel) = (event_tx.clone(), cancel.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => { let _ = tx.try_send(SourceItem::Tick); }
                }
            }
        });
    }
    if cfg.inputs.is_empty() {
        drop(event_tx);
    } else {
        let inputs = cfg.inputs.clone();
        let replay = cfg.replay.clone();
        let once = cfg.once;
        let cancel = cancel.clone();
        let ready = ready.clone();
        tasks.spawn(async move {
            wait_ready(&ready).await;
            replay_source(&inputs, &replay, once, &event_tx, &cancel).await;
        });
    }

    // The engine is synchronous and, with a store, waits for an fsync per group commit: it
    // runs on a blocking thread so it never stalls the async workers.
    let engine_done = CancellationToken::new();
    let done = engine_done.clone();
    tasks.spawn_blocking(move || {
        let _done = done.drop_guard();
        let mut stats = Stats {
            state_loaded_at: Some(chrono::Utc::now()),
            ..Stats::default()
        };
        let mut signals = Signals::default();
        let mut reloads_seen = 0u64;
        let mut failures_seen = 0u64;
        let (mut catalog_reloads_seen, mut catalog_failures_seen) = (0u64, 0u64);
        while let Some(item) = event_rx.blocking_recv() {
            if let Some(w) = &watcher {
                let (reloads, failures) = w.counters();
                if reloads != reloads_seen {
                    reloads_seen = reloads;
                    stats.rule_reloads = reloads;
                    stats.rule_errors.clear();
                    engine.set_rules(w.current());
                    tracing::info!(reloads, "Rules reloaded");
                }
                if failures != failures_seen {
                    failures_seen = failures;
                    stats.rule_reload_failures = failures;
                    stats.rule_errors = w.last_errors().iter().map(ToString::to_string).collect();
                    tracing::warn!(
                        errors = %stats.rule_errors.join("; "),
                        "Rule change rejected; the previous rules stay in force"
                    );
                }
            }
            if let Some(w) = &catalog_watcher {
                let (reloads, failures) = w.counters();
                if reloads != catalog_reloads_seen {
                    catalog_reloads_seen = reloads;
                    stats.catalog_reloads = reloads;
                    stats.catalog_errors.clear();
                    engine.set_catalog(w.current());
                    tracing::info!(reloads, "Catalog reloaded");
                }
                if failures != catalog_failures_seen {
                    catalog_failures_seen = failures;
                    stats.catalog_reload_failures = failures;
                    stats.catalog_errors = w.last_errors();
                    tracing::warn!(
                        errors = %stats.catalog_errors.join("; "),
                        "Catalog change rejected; the previous catalog stays in force"
                    );
                }
            }
            // Group commit: stage what is queued (up to GROUP_MAX items), record it in one
            // transaction, then deliver. One event at a time when the sources are slow (no
            // added latency), bigger groups exactly when the engine falls behind.
            handle_item(item, &mut engine, &mut stats, &mut signals, &alert_tx);
            for _ in 1..GROUP_MAX {
                match event_rx.try_recv() {
                    Ok(item) => handle_item(item, &mut engine, &mut stats, &mut signals, &alert_tx),
                    Err(_) => break,
                }
            }
            deliver(engine.commit(&mut stats), &alert_tx);
            if signals.refresh_state {
                signals.refresh_state = false;
                refresh.notify_one();
            }
            if event_rx.is_empty() {
                health.fill(&mut stats);
                stats_tx.send_replace(stats.clone());
            }
        }
        // The last word includes the sources' final health (a test or the daemon's exit
        // summary reads it after the sources stopped).
        health.fill(&mut stats);
        stats_tx.send_replace(stats);
    });

    if let (Some(store), Some(retention)) = (cfg.store.clone(), cfg.retention) {
        tasks.spawn(prune_loop(store, retention, engine_done));
    }

    Ok(PipelineHandle {
        alerts: alert_rx,
        stats: stats_rx,
        rule_watch,
        cancel,
        tasks,
    })
}

/// Longest wait for the first remote state load before sources start anyway.
const STATE_READY_TIMEOUT: Duration = Duration::from_secs(30);

async fn wait_ready(ready: &CancellationToken) {
    if tokio::time::timeout(STATE_READY_TIMEOUT, ready.cancelled())
        .await
        .is_err()
    {
        tracing::warn!("Remote state not loaded after 30 s; starting the sources anyway");
    }
}

/// Hands recorded alerts to the consumer.
fn deliver(alerts: Vec<Alert>, alert_tx: &mpsc::Sender<Alert>) {
    for alert in alerts {
        if alert_tx.blocking_send(alert).is_err() {
            // The consumer is gone: keep counting, nobody reads alerts.
            tracing::debug!("alert consumer closed");
        }
    }
}

/// Runs one item through the engine. Events are staged for the caller's group commit; a
/// batch is committed (with whatever was staged before it) and acknowledged at its end, so
/// its ack covers exactly its own items.
fn handle_item(
    item: SourceItem,
    engine: &mut Engine,
    stats: &mut Stats,
    signals: &mut Signals,
    alert_tx: &mpsc::Sender<Alert>,
) {
    match item {
        SourceItem::Event(ev) => engine.stage(&ev, stats, signals),
        SourceItem::Skipped(kind) => stats.skipped(kind),
        SourceItem::Unparseable { origin, reason } => stats.unparseable(&origin, &reason),
        SourceItem::Batch { items, ack } => {
            deliver(engine.commit(stats), alert_tx);
            let (errors0, alerts0, parsed0) = (stats.store_errors, stats.alerts, stats.parsed);
            for item in items {
                handle_item(item, engine, stats, signals, alert_tx);
            }
            deliver(engine.commit(stats), alert_tx);
            let _ = ack.send(BatchAck {
                events: stats.parsed - parsed0,
                alerts: stats.alerts - alerts0,
                store_errors: stats.store_errors - errors0,
            });
        }
        SourceItem::State { index, stale } => {
            engine.set_state(index);
            // Commit what was staged against the old state first, then let the new state settle
            // open drifts (accepted / applied / gone).
            deliver(engine.commit(stats), alert_tx);
            engine.reconcile_drifts(stats);
            stats.state_stale = stale;
            stats.state_loaded_at = Some(chrono::Utc::now());
        }
        SourceItem::Tick => {}
    }
}

/// Prunes the store now and then every [`PRUNE_EVERY`], until the engine stops.
async fn prune_loop(store: Arc<dyn Store>, retention: chrono::Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let store = store.clone();
        let cutoff = Utc::now() - retention;
        match tokio::task::spawn_blocking(move || store.prune(cutoff)).await {
            Ok(Ok(p)) => tracing::debug!(rows = p.rows, "Pruned the store"),
            Ok(Err(e)) => tracing::warn!(error = %e, "Pruning the store failed; will retry"),
            Err(e) => tracing::warn!(error = %e, "Pruning task panicked"),
        }
    }
}

/// Reads one input (file, directory entry, or embedded asset) into (name, bytes) pairs.
fn read_named(input: &str) -> Vec<(String, Result<Vec<u8>, String>)> {
    if let Some(emb) = input.strip_prefix(EMBEDDED_PREFIX) {
        let bytes = crate::assets::file(emb)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| format!("no embedded file '{emb}'"));
        return vec![(input.to_string(), bytes)];
    }
    match expand_inputs(&[input.into()]) {
        Ok(paths) => paths
            .into_iter()
            .flat_map(|p| {
                // A cut file (truncated gzip, bomb): its bytes before the cut, and the cut as an
                // unreadable entry (logged and counted by the caller).
                let name = p.display().to_string();
                match read_input_cut(&p) {
                    Ok((bytes, None)) => vec![(name, Ok(bytes))],
                    Ok((bytes, Some(cut))) => {
                        vec![
                            (name.clone(), Ok(bytes)),
                            (name, Err(format!("{}: {cut}", cut.kind()))),
                        ]
                    }
                    Err(e) => vec![(name, Err(e.to_string()))],
                }
            })
            .collect(),
        Err(e) => vec![(input.to_string(), Err(e.to_string()))],
    }
}

/// Replays recorded inputs; with `loop`, again and again with fresh ids and current times.
async fn replay_source(
    inputs: &[String],
    replay: &ReplaySettings,
    once: bool,
    tx: &mpsc::Sender<SourceItem>,
    cancel: &CancellationToken,
) {
    let files: Vec<(String, Result<Vec<u8>, String>)> =
        inputs.iter().flat_map(|i| read_named(i)).collect();
    let mut pass = 0u64;
    loop {
        for (name, bytes) in &files {
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(input = %name, error = %e, "Input not read, or cut short (what came before the cut is read)");
                    if pass == 0 {
                        let _ = tx
                            .send(SourceItem::Unparseable {
                                origin: name.clone(),
                                reason: e.clone(),
                            })
                            .await;
                    }
                    continue;
                }
            };
            let mut items = Vec::new();
            let mut units = Vec::new();
            split_documents(bytes, |doc| match doc {
                Document::Json(raw, line) => {
                    units.clear();
                    normalize_document(raw, &mut units);
                    for u in units.drain(..) {
                        items.push(match u {
                            Normalized::Event(ev) => SourceItem::Event(ev),
                            Normalized::Skipped(k) => SourceItem::Skipped(k.as_str()),
                            Normalized::Unparseable(reason) => SourceItem::Unparseable {
                                origin: format!("{name}:{line}"),
                                reason,
                            },
                        });
                    }
                }
                Document::Malformed { line, reason } => items.push(SourceItem::Unparseable {
                    origin: format!("{name}:{line}"),
                    reason: format!("malformed JSON: {reason}"),
                }),
            });
            for mut item in items {
                if cancel.is_cancelled() {
                    return;
                }
                if pass > 0 {
                    if let SourceItem::Event(ev) = &mut item {
                        // A new pass is new activity: new ids (so dedupe lets it through) and now.
                        ev.id = format!("{}#{pass}", ev.id);
                        ev.time = Some(Utc::now());
                        if let Some(op) = &mut ev.operation {
                            op.id = format!("{}#{pass}", op.id);
                        }
                    }
                } else if replay.looping
                    && let SourceItem::Event(ev) = &mut item
                {
                    ev.time = Some(Utc::now());
                } else if let SourceItem::Event(ev) = &mut item
                    && ev.time.is_none()
                    && let Some((t, source)) =
                        super::replay::fallback_time(std::path::Path::new(name))
                {
                    // As `replay`: the file's time, so two runs over the same file agree.
                    ev.time = Some(t);
                    ev.time_source = Some(source);
                }
                if tx.send(item).await.is_err() {
                    return;
                }
                if replay.interval_ms > 0 {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(replay.interval_ms)) => {}
                    }
                }
            }
        }
        pass += 1;
        if !replay.looping || once || cancel.is_cancelled() {
            return;
        }
    }
}
