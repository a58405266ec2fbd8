//! Watch streams. One task, [`publish`], reads each committed journal entry once and
//! broadcasts it; each watcher's task sends a snapshot (or, resuming, nothing), catches up from
//! the store after its cursor, then follows the broadcast, skipping what it already sent.
//!
//! Subscribing before catching up makes the hand-over exact: an entry published before the
//! subscription was committed before it, so the catch-up reads it; one published after it
//! arrives on the broadcast; duplicates are dropped by cursor. The broadcast is bounded: a
//! watcher whose client stops reading blocks only its own task, falls behind by more than the
//! buffer, and is then told it lagged and catches up from the store again — detection and the
//! other watchers never wait for it.
//!
//! Events are encoded once, by [`publish`], and sent to every watcher as the same bytes
//! ([`Encoded`]): with fifty watchers, encoding (and deep-cloning) each alert per watcher was
//! most of the daemon's added CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::convert;
use super::proto::{self as pb, watch_event::Item};
use super::server::{ApiState, blocking};
use crate::store::DriftFilter;
use crate::store::journal::{Change, ChangeItem};

/// Fallback poll of the journal by [`publish`]: catches writes the daemon was not told about
/// (another process acting on the same store) within this time.
pub const POLL: Duration = Duration::from_millis(100);
/// Stats items go out at most this often.
pub const STATS_EVERY: Duration = Duration::from_secs(1);
/// Journal entries read per store call.
const BATCH: usize = 256;
/// Smallest per-watcher buffer: [`publish`] sends a whole read batch at once, so a smaller one
/// would make even a prompt watcher lag at every burst.
pub const MIN_BUFFER: usize = 2 * BATCH;
/// Items queued for one client's connection (beyond them its task waits, alone).
const CLIENT_QUEUE: usize = 32;
/// Default number of alerts in a snapshot.
pub const SNAPSHOT_ALERTS: usize = 200;

type Tx = mpsc::Sender<Result<Encoded, Status>>;

/// A `WatchEvent` already encoded in protobuf: what the server's `Watch` stream sends (the
/// generated server takes it for `WatchEvent`, see `build.rs`). The bytes are shared, so sending
/// one event to many watchers copies nothing. Clients decode a plain `WatchEvent`.
#[derive(Clone, Default, PartialEq)]
pub struct Encoded(prost::bytes::Bytes);

impl Encoded {
    /// The encoding of `ev`.
    #[must_use]
    pub fn new(ev: &pb::WatchEvent) -> Self {
        Encoded(prost::Message::encode_to_vec(ev).into())
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.0.len())
    }
}

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // The daemon only sends watch events; it never decodes one.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// One journal entry as broadcast to the watchers: its cursor (to drop what a watcher already
/// sent) and its encoding.
#[derive(Debug)]
pub struct Published {
    cursor: i64,
    encoded: Encoded,
}

/// Starts a watcher's task; its stream ends when the client goes away or the daemon stops.
pub fn start(
    state: Arc<ApiState>,
    since: i64,
    snapshot_alerts: u32,
) -> ReceiverStream<Result<Encoded, Status>> {
    let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
    let n = match snapshot_alerts {
        0 => SNAPSHOT_ALERTS,
        n => usize::try_from(n).unwrap_or(SNAPSHOT_ALERTS).min(10_000),
    };
    tokio::spawn(async move {
        let cancel = state.cancel.clone();
        tokio::select! {
            r = run(&state, since, n, &tx) => {
                if let Err(e) = r {
                    let _ = tx.send(Err(e)).await;
                }
            }
            () = cancel.cancelled() => {}
        }
    });
    ReceiverStream::new(rx)
}

/// The event for a journal entry (`None`: its row was pruned, nothing to show).
fn event(c: Change) -> Option<pb::WatchEvent> {
    let item = match c.item {
        ChangeItem::Alert(a) => Item::Alert(convert::alert(&a)),
        ChangeItem::Ack(a) => Item::Status(convert::ack_change(&a)),
        ChangeItem::Snooze(s) => Item::Status(convert::snooze_change(&s)),
        ChangeItem::Drift(d) => Item::Drift(convert::drift_change(&d.0, &d.1)),
        ChangeItem::Other { kind, reference } => Item::Other(pb::JournalEntry {
            kind,
            r#ref: reference,
        }),
        ChangeItem::Gone => return None,
    };
    Some(pb::WatchEvent {
        cursor: c.cursor,
        item: Some(item),
    })
}

async fn snapshot(state: &Arc<ApiState>, since: i64, n: usize) -> Result<pb::WatchEvent, Status> {
    // Open drifts are read after the cursor: a drift changed in between is in the snapshot and
    // again in the journal after it (a client keeps the newest state per drift id).
    let (cursor, alerts, drifts) = blocking(state, move |s| {
        let (cursor, alerts) = s.journal_snapshot(n)?;
        let drifts = s.drifts(&DriftFilter {
            unresolved_only: true,
            ..DriftFilter::default()
        })?;
        Ok((cursor, alerts, drifts))
    })
    .await?;
    let stats = convert::stats(&state.stats.borrow());
    Ok(pb::WatchEvent {
        cursor,
        item: Some(Item::Snapshot(pb::Snapshot {
            cursor,
            alerts: alerts.iter().map(convert::alert).collect(),
            open_drifts: drifts.iter().map(convert::drift).collect(),
            sources: stats.sources,
            stats_json: stats.stats_json,
            reset: since > 0,
            requested_since: since,
        })),
    })
}

/// Reads the journal as it grows (woken by commits, else every [`POLL`]) and broadcasts each
/// entry once to every watcher. Starts after `last`.
pub async fn publish(state: Arc<ApiState>, mut last: i64) {
    let mut wake = state.wake.subscribe();
    let mut stats = state.stats.clone();
    let mut stats_open = true;
    loop {
        loop {
            let rows = match blocking(&state, move |s| s.changes_since(last, BATCH)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e.message(), "Reading the change journal failed; retrying");
                    break;
                }
            };
            let n = rows.len();
            for c in rows {
                let at = c.cursor;
                if let Some(ev) = event(c) {
                    // No receivers is fine: nobody is watching.
                    let _ = state.events.send(Arc::new(Published {
                        cursor: at,
                        encoded: Encoded::new(&ev),
                    }));
                }
                last = at;
            }
            if n < BATCH {
                break;
            }
        }
        tokio::select! {
            _ = wake.changed() => {}
            r = stats.changed(), if stats_open => {
                // The engine publishes counters after its commits.
                stats_open = r.is_ok();
            }
            () = tokio::time::sleep(POLL) => {}
            () = state.cancel.cancelled() => return,
        }
    }
}

/// Sends store entries after `cursor` until none is newer; returns the new cursor, or `None`
/// when the client went away.
async fn catch_up(state: &Arc<ApiState>, mut cursor: i64, tx: &Tx) -> Result<Option<i64>, Status> {
    loop {
        let rows = blocking(state, move |s| s.changes_since(cursor, BATCH)).await?;
        let n = rows.len();
        for c in rows {
            let at = c.cursor;
            if let Some(ev) = event(c)
                && tx.send(Ok(Encoded::new(&ev))).await.is_err()
            {
                return Ok(None);
            }
            cursor = at;
        }
        if n < BATCH {
            return Ok(Some(cursor));
        }
    }
}

async fn run(state: &Arc<ApiState>, since: i64, n: usize, tx: &Tx) -> Result<(), Status> {
    // Subscribe first: see the module comment.
    let mut rx = state.events.subscribe();
    let mut stats = state.stats.clone();
    let bounds = blocking(state, |s| s.journal_bounds()).await?;
    let mut cursor = if since > 0 && bounds.can_resume(since) {
        since
    } else {
        if since > 0 {
            tracing::info!(since, oldest = ?bounds.oldest, newest = bounds.newest, "Watcher's cursor is beyond retention or unknown: fresh snapshot");
        }
        let snap = snapshot(state, since, n).await?;
        let c = snap.cursor;
        if tx.send(Ok(Encoded::new(&snap))).await.is_err() {
            return Ok(());
        }
        c
    };
    stats.mark_unchanged();
    let mut stats_sent = Instant::now();
    let mut stats_dirty = false;
    let mut stats_open = true;
    loop {
        let Some(c) = catch_up(state, cursor, tx).await? else {
            return Ok(());
        };
        cursor = c;
        loop {
            let stats_due = STATS_EVERY.saturating_sub(stats_sent.elapsed());
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(ev) => {
                        if ev.cursor <= cursor {
                            continue;
                        }
                        if tx.send(Ok(ev.encoded.clone())).await.is_err() {
                            return Ok(());
                        }
                        cursor = ev.cursor;
                    }
                    Err(RecvError::Lagged(missed)) => {
                        // Fell further behind than the buffer: say so, then read the store from
                        // the cursor (the broadcast resumes at its tail; the overlap is skipped).
                        rx = rx.resubscribe();
                        let newest = blocking(state, |s| s.journal_bounds()).await?.newest;
                        tracing::info!(cursor, newest, missed, "Watcher lagged; resuming from its cursor");
                        let lag = pb::WatchEvent {
                            cursor,
                            item: Some(Item::Lagged(pb::Lagged { cursor, newest })),
                        };
                        if tx.send(Ok(Encoded::new(&lag))).await.is_err() {
                            return Ok(());
                        }
                        break;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                r = stats.changed(), if stats_open => match r {
                    Ok(()) => stats_dirty = true,
                    Err(_) => stats_open = false,
                },
                () = tokio::time::sleep(stats_due), if stats_dirty => {}
                () = tx.closed() => return Ok(()),
            }
            if stats_dirty && stats_sent.elapsed() >= STATS_EVERY {
                let s = convert::stats(&stats.borrow_and_update());
                stats_dirty = false;
                stats_sent = Instant::now();
                // Full: skipped (the next one carries the news); closed: noticed above.
                let _ = tx.try_send(Ok(Encoded::new(&pb::WatchEvent {
                    cursor,
                    item: Some(Item::Stats(s)),
                })));
            }
        }
    }
}
