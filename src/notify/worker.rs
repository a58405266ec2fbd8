//! The outbox worker: claims due items with a lease, hands each to its channel's own task
//! (bounded queue: a dead channel backs up alone), sends with a timeout, retries with
//! exponential backoff and jitter (honouring 429 `Retry-After`), marks delivered, and after the
//! last attempt marks failed. Over a channel's rate limit, alerts are held and sent as one
//! digest when the bucket refills.
//!
//! Leases name their owner (`host/pid/start` of this process). At start-up the worker takes
//! back the `sending` items of owners that are dead — its own earlier incarnation after a
//! `kill -9`, any process of this host that is gone — so they go out at once instead of after
//! the lease; a live process sharing the store keeps its leases. File channels are written
//! idempotently (see [`super::jsonl`]), so an item written just before the crash is not written
//! twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::limit::TokenBucket;
use super::{Channel, Channels, Envelope, Message, SendError, falco, jsonl};
use crate::alert::Alert;
use crate::store::{OutboxEntry, Store};

/// Worker tuning.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Attempts before an item is marked failed.
    pub max_attempts: u32,
    /// How often the outbox is polled for due items.
    pub poll: Duration,
    /// How long a claim lasts (a dead worker's items become due again after it).
    pub lease: Duration,
    /// First retry delay; doubled per attempt up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Items queued per channel before the dispatcher defers more for it.
    pub queue: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 8,
            poll: Duration::from_millis(250),
            lease: Duration::from_mins(5),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_mins(10),
            queue: 256,
        }
    }
}

/// Per-channel counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ChannelCounters {
    /// Delivered messages.
    pub sent: u64,
    /// Attempts that failed and were rescheduled.
    pub retried: u64,
    /// Items given up on (`notify_failed`).
    pub failed: u64,
    /// Alerts held back by the rate limit.
    pub rate_limited: u64,
    /// Digest messages sent.
    pub digests: u64,
}

/// Notification counters, shared with `/metrics` and the summary.
#[derive(Debug, Default)]
pub struct NotifyStats {
    channels: Mutex<BTreeMap<String, ChannelCounters>>,
    /// Items claimed and not yet finished.
    pub in_flight: AtomicUsize,
}

impl NotifyStats {
    /// Updates one channel's counters (the worker counts; front ends only read).
    pub fn bump(&self, channel: &str, f: impl FnOnce(&mut ChannelCounters)) {
        if let Ok(mut m) = self.channels.lock() {
            f(m.entry(channel.to_string()).or_default());
        }
    }

    /// A copy of the per-channel counters.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, ChannelCounters> {
        self.channels.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Delay before attempt `attempts + 1`: exponential with ±20 % jitter.
#[must_use]
pub fn backoff(cfg: &WorkerConfig, attempts: u32, seed: u64) -> Duration {
    let d = crate::backoff::exponential(cfg.backoff_base, attempts, cfg.backoff_max);
    d.mul_f64(0.8 + 0.4 * crate::backoff::jitter(seed))
}

/// A running worker.
pub struct Notifier {
    /// Counters.
    pub stats: Arc<NotifyStats>,
    drain: CancellationToken,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Notifier {
    /// Starts the dispatcher and one task per channel.
    #[must_use]
    pub fn start(store: Arc<dyn Store>, channels: &Channels, cfg: WorkerConfig) -> Notifier {
        let stats = Arc::new(NotifyStats::default());
        let tasks = TaskTracker::new();
        let drain = CancellationToken::new();
        let stop = CancellationToken::new();
        let mut queues = BTreeMap::new();
        for (name, ch) in &channels.by_name {
            ch.attach_store(&store);
            let (tx, rx) = mpsc::channel::<OutboxEntry>(cfg.queue);
            queues.insert(name.clone(), tx);
            tasks.spawn(channel_task(
                ch.clone(),
                rx,
                store.clone(),
                stats.clone(),
                cfg.clone(),
                stop.clone(),
            ));
        }
        tasks.spawn(dispatch(
            store,
            queues,
            stats.clone(),
            cfg,
            drain.clone(),
            stop.clone(),
        ));
        Notifier {
            stats,
            drain,
            stop,
            tasks,
        }
    }

    /// Delivers what is due, then stops; gives up after `limit` (items left are sent after the
    /// next start: they are still in the outbox).
    pub async fn drain(&self, limit: Duration) -> bool {
        self.drain.cancel();
        self.tasks.close();
        let done = tokio::time::timeout(limit, async {
            // The dispatcher exits once nothing is due or in flight; then the channel tasks.
            self.tasks.wait().await;
        })
        .await
        .is_ok();
        self.stop.cancel();
        if !done {
            tracing::warn!(
                in_flight = self.stats.in_flight.load(Ordering::Relaxed),
                "Notification drain timed out; undelivered items stay in the outbox for the next start"
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), self.tasks.wait()).await;
        }
        done
    }
}

/// This process as a lease owner: `host/pid/start` (start in nanoseconds since the epoch, so a
/// later process that gets the same pid is another owner).
#[must_use]
pub fn lease_owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        format!(
            "{}/{}/{}",
            host(),
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        )
    })
}

fn host() -> String {
    hostname::get().map_or_else(
        |_| "unknown-host".to_string(),
        |h| h.to_string_lossy().replace('/', "_"),
    )
}

/// Whether the process that holds a lease is certainly gone. `None` (claimed by a tfdrift that
/// did not record owners) counts as gone: such a process predates this one's upgrade. Another
/// host's process, or one that cannot be checked, is taken as alive (its lease runs out).
#[must_use]
pub fn lease_owner_dead(owner: Option<&str>) -> bool {
    let Some(owner) = owner else { return true };
    if owner == lease_owner() {
        return false;
    }
    let mut parts = owner.rsplitn(3, '/');
    let (Some(_start), Some(pid), Some(host_name)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if host_name != host() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    // This pid is this process: the owner was an earlier process with the same pid (a container
    // restart, where the daemon is pid 1 every time).
    pid == std::process::id() || process_gone(pid)
}

/// Whether `pid` is not a running process (Linux `/proc`; elsewhere nothing is known as gone).
fn process_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return false;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        // `pid (comm) S …`: a zombie (Z) or dead (X) process is gone.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

async fn dispatch(
    store: Arc<dyn Store>,
    queues: BTreeMap<String, mpsc::Sender<OutboxEntry>>,
    stats: Arc<NotifyStats>,
    cfg: WorkerConfig,
    drain: CancellationToken,
    stop: CancellationToken,
) {
    let lease = chrono::Duration::from_std(cfg.lease).unwrap_or(chrono::Duration::minutes(5));
    let s = store.clone();
    match blocking(move || s.outbox_release_dead(&lease_owner_dead, Utc::now())).await {
        Some(Ok(0)) | None => {}
        Some(Ok(n)) => tracing::info!(
            items = n,
            "Notifications that were being sent when an earlier tfdrift process died are due again"
        ),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "Cannot take back the leases of dead processes; their items go out when the leases run out");
        }
    }
    loop {
        let s = store.clone();
        let claimed =
            match blocking(move || s.outbox_claim_for(Some(lease_owner()), Utc::now(), 64, lease))
                .await
            {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "Outbox claim failed; retrying");
                    Vec::new()
                }
                None => Vec::new(),
            };
        let got = claimed.len();
        for entry in claimed {
            let Some(q) = queues.get(&entry.channel) else {
                let (s, id, ch) = (store.clone(), entry.id, entry.channel.clone());
                tracing::error!(channel = %ch, "Outbox item for a channel the profile no longer configures; marked failed");
                stats.bump(&ch, |c| c.failed += 1);
                blocking(move || s.outbox_failed(id, &format!("channel '{ch}' is not configured")))
                    .await;
                continue;
            };
            stats.in_flight.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = q.try_send(entry) {
                // The channel is backed up (or dead): leave the item for later, never block others.
                stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                let entry = match e {
                    mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
                };
                let s = store.clone();
                let at = Utc::now() + chrono::Duration::seconds(5);
                blocking(move || s.outbox_retry_at(entry.id, at, "channel queue full; deferred"))
                    .await;
            }
        }
        if stop.is_cancelled() {
            return;
        }
        if drain.is_cancelled() && got == 0 && stats.in_flight.load(Ordering::Relaxed) == 0 {
            return;
        }
        if got == 0 || drain.is_cancelled() {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(cfg.poll) => {}
            }
        }
    }
}

/// Parses a stored payload; a payload that does not parse is a permanent failure.
fn envelope(e: &OutboxEntry) -> Result<Envelope, String> {
    serde_json::from_str(&e.payload).map_err(|err| format!("outbox payload does not parse: {err}"))
}

async fn channel_task(
    ch: Arc<Channel>,
    mut rx: mpsc::Receiver<OutboxEntry>,
    store: Arc<dyn Store>,
    stats: Arc<NotifyStats>,
    cfg: WorkerConfig,
    stop: CancellationToken,
) {
    let mut bucket = ch
        .rate_limit
        .map(|l| TokenBucket::new(l, tokio::time::Instant::now()));
    let mut held: Vec<(OutboxEntry, Alert)> = Vec::new();
    loop {
        let wait = match (&mut bucket, held.is_empty()) {
            (Some(b), false) => b.wait(tokio::time::Instant::now()),
            _ => Duration::from_hours(24),
        };
        let entry = tokio::select! {
            () = stop.cancelled() => return,
            e = rx.recv() => e,
            () = tokio::time::sleep(wait), if !held.is_empty() => None,
        };
        let Some(entry) = entry else {
            if held.is_empty() {
                // Sender gone (dispatcher finished) and nothing held: done.
                return;
            }
            if bucket
                .as_mut()
                .is_some_and(|b| b.try_take(tokio::time::Instant::now()))
            {
                let batch = std::mem::take(&mut held);
                let alerts = batch.iter().map(|(_, a)| a.clone()).collect();
                let entries: Vec<&OutboxEntry> = batch.iter().map(|(e, _)| e).collect();
                let res = deliver(&ch, &Message::Digest { alerts }, &entries).await;
                stats.bump(&ch.name, |c| c.digests += u64::from(res.is_ok()));
                for (e, _) in batch {
                    finish(&ch, &store, &stats, &cfg, e, res.clone()).await;
                }
            }
            continue;
        };
        let env = match envelope(&entry) {
            Ok(e) => e,
            Err(err) => {
                finish(
                    &ch,
                    &store,
                    &stats,
                    &cfg,
                    entry,
                    Err(SendError::permanent(err)),
                )
                .await;
                continue;
            }
        };
        if let Some(b) = &mut bucket
            && matches!(env, Envelope::Alert { .. })
            && !b.try_take(tokio::time::Instant::now())
        {
            stats.bump(&ch.name, |c| c.rate_limited += 1);
            if !held.iter().any(|(h, _)| h.id == entry.id) {
                held.push((entry, env.alert().clone()));
            }
            continue;
        }
        let res = deliver(&ch, &Message::from(env), &[&entry]).await;
        finish(&ch, &store, &stats, &cfg, entry, res).await;
    }
}

/// Sends the message for `entries` (one, or a digest's held items in its order). File channels
/// are written here, each line carrying its entry's delivery id, skipping lines already
/// written when an entry is on a repeated attempt.
async fn deliver(ch: &Channel, msg: &Message, entries: &[&OutboxEntry]) -> Result<(), SendError> {
    let Some((path, falco_events)) = ch.file_sink() else {
        return send(ch, msg).await;
    };
    let ids: Vec<String> = entries.iter().map(|e| jsonl::delivery_id(e)).collect();
    let lines: Vec<String> = if falco_events {
        falco::render(msg)
            .into_iter()
            .enumerate()
            .map(|(i, mut v)| {
                if let Some(id) = ids.get(i) {
                    falco::with_delivery_id(&mut v, id);
                }
                v.to_string()
            })
            .collect()
    } else {
        jsonl::render(msg)
            .iter()
            .enumerate()
            .map(|(i, l)| {
                ids.get(i)
                    .map_or_else(|| l.clone(), |id| jsonl::with_delivery_id(l, id))
            })
            .collect()
    };
    let check = entries.iter().any(|e| e.attempts > 1);
    let path = path.to_path_buf();
    let write = tokio::task::spawn_blocking(move || jsonl::append_once(&path, &ids, &lines, check));
    match tokio::time::timeout(ch.timeout + Duration::from_secs(5), write).await {
        Ok(Ok(r)) => r.map(|_| ()),
        Ok(Err(e)) => Err(SendError::retry(e.to_string())),
        Err(_) => Err(SendError::retry(format!(
            "writing the file timed out after {} ms",
            ch.timeout.as_millis()
        ))),
    }
}

async fn send(ch: &Channel, msg: &Message) -> Result<(), SendError> {
    // The transports time out themselves; this bounds anything that does not.
    match tokio::time::timeout(ch.timeout + Duration::from_secs(5), ch.send(msg)).await {
        Ok(r) => r,
        Err(_) => Err(SendError::retry(format!(
            "timed out after {} ms",
            ch.timeout.as_millis()
        ))),
    }
}

async fn finish(
    ch: &Channel,
    store: &Arc<dyn Store>,
    stats: &NotifyStats,
    cfg: &WorkerConfig,
    e: OutboxEntry,
    res: Result<(), SendError>,
) {
    let s = store.clone();
    let id = e.id;
    match res {
        Ok(()) => {
            stats.bump(&ch.name, |c| c.sent += 1);
            tracing::info!(channel = %ch.name, alert_id = %e.alert_id, attempts = e.attempts, "Notification delivered");
            blocking(move || s.outbox_delivered(id, Utc::now())).await;
        }
        Err(err) if err.retryable && e.attempts < cfg.max_attempts => {
            stats.bump(&ch.name, |c| c.retried += 1);
            #[allow(clippy::cast_sign_loss)]
            let seed = id as u64 ^ u64::from(e.attempts);
            let delay = err
                .retry_after
                .unwrap_or_else(|| backoff(cfg, e.attempts, seed));
            tracing::warn!(channel = %ch.name, alert_id = %e.alert_id, attempt = e.attempts, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %err, "Notification failed; will retry");
            let at = Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(10));
            let msg = err.message.clone();
            blocking(move || s.outbox_retry_at(id, at, &msg)).await;
        }
        Err(err) => {
            stats.bump(&ch.name, |c| c.failed += 1);
            tracing::error!(channel = %ch.name, alert_id = %e.alert_id, attempts = e.attempts, error = %err, "Notification failed for good; `tfdrift notify retry` re-queues it");
            let msg = err.message.clone();
            blocking(move || s.outbox_failed(id, &msg)).await;
        }
    }
    stats.in_flight.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_lease_owners_are_recognised() {
        let me = lease_owner();
        assert!(!lease_owner_dead(Some(me)), "this process is alive");
        assert!(
            lease_owner_dead(None),
            "claimed by a tfdrift without owners"
        );
        let host = host();
        let pid = std::process::id();
        assert!(
            lease_owner_dead(Some(&format!("{host}/{pid}/1"))),
            "an earlier process with this pid (container restart)"
        );
        assert!(
            !lease_owner_dead(Some(&format!("elsewhere-{host}/1/1"))),
            "another host"
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert!(
            lease_owner_dead(Some(&format!("{host}/{gone}/1"))),
            "a process that exited"
        );
        assert!(
            !lease_owner_dead(Some(&format!("{host}/1/1"))),
            "init is alive"
        );
        assert!(!lease_owner_dead(Some("garbage")));
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let cfg = WorkerConfig::default();
        let d1 = backoff(&cfg, 1, 7);
        let d3 = backoff(&cfg, 3, 7);
        assert!(
            d1 >= Duration::from_millis(1600) && d1 <= Duration::from_millis(2400),
            "{d1:?}"
        );
        assert!(
            d3 >= Duration::from_millis(6400) && d3 <= Duration::from_millis(9600),
            "{d3:?}"
        );
        assert!(backoff(&cfg, 30, 1) <= cfg.backoff_max.mul_f64(1.2));
        assert_ne!(backoff(&cfg, 2, 1), backoff(&cfg, 2, 2));
    }
}
