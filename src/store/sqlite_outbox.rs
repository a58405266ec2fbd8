//! The notification outbox on SQLite: enqueue inside the alert transaction, claim with a lease,
//! list by status.
//!
//! A claim is a lease, not a lock: items stay `sending` until `next_attempt_at`, after which
//! another claim may take them again. A worker that dies mid-send therefore delays a
//! notification by one lease, and never loses it (at-least-once delivery; channels dedupe by
//! alert id where they can). Each claim records its owner (`host/pid/start` of the claiming
//! process): at start-up a worker takes back at once the leases of owners it knows are dead
//! ([`release_dead`]), so a `kill -9` mid-delivery no longer delays those notifications by a
//! whole lease.

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::sqlite::from_ms;
use super::{OutboxEntry, OutboxItem, OutboxStatus};

const COLUMNS: &str = "id, channel, alert_id, payload, created_at, next_attempt_at, attempts, status, last_error, delivered_at";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let status: String = r.get(7)?;
    Ok(OutboxEntry {
        id: r.get(0)?,
        channel: r.get(1)?,
        alert_id: r.get(2)?,
        payload: r.get(3)?,
        created_at: from_ms(r.get(4)?),
        next_attempt_at: from_ms(r.get(5)?),
        attempts: r.get(6)?,
        // The CHECK constraint keeps other values out.
        status: OutboxStatus::parse(&status).unwrap_or(OutboxStatus::Pending),
        last_error: r.get(8)?,
        delivered_at: r.get::<_, Option<i64>>(9)?.map(from_ms),
    })
}

/// Inserts pending items due now.
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    items: &[OutboxItem],
    now: i64,
) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO outbox (channel, alert_id, payload, created_at, next_attempt_at, attempts, status) \
         VALUES (?1, ?2, ?3, ?4, ?4, 0, 'pending')",
    )?;
    for it in items {
        st.execute(params![it.channel, it.alert_id, it.payload, now])?;
    }
    Ok(())
}

/// Enqueues a `resolve` for every channel that was sent a trigger for the acknowledged alert
/// (or, for a fingerprint target, any alert with that fingerprint) and asked for one
/// (`$.resolve_on_ack` in the stored payload: PagerDuty channels). A channel already given a
/// resolve after its last trigger gets none again. The payload is the notifier's
/// `{"type": "resolve", "alert": …}` envelope. Runs in the ack's transaction. Returns how many.
pub(super) fn enqueue_resolves(
    tx: &Transaction<'_>,
    alert_id: Option<&str>,
    fingerprint: Option<&str>,
    now: i64,
) -> rusqlite::Result<usize> {
    // Indexed either way: by alert id, or by the alerts with the fingerprint.
    let which = if alert_id.is_some() {
        "o.alert_id = ?1"
    } else {
        "o.alert_id IN (SELECT id FROM alerts WHERE fingerprint = ?2)"
    };
    tx.execute(
        &format!(
            "INSERT INTO outbox (channel, alert_id, payload, created_at, next_attempt_at, attempts, status) \
             SELECT o.channel, o.alert_id, json_object('type', 'resolve', 'alert', json(a.json)), ?3, ?3, 0, 'pending' \
             FROM outbox o JOIN alerts a ON a.id = o.alert_id \
             WHERE {which} \
               AND json_extract(o.payload, '$.type') = 'alert' \
               AND json_extract(o.payload, '$.resolve_on_ack') = 1 \
               AND NOT EXISTS (SELECT 1 FROM outbox r WHERE r.alert_id = o.alert_id AND r.channel = o.channel \
                               AND r.id > o.id AND json_extract(r.payload, '$.type') = 'resolve') \
             GROUP BY o.channel, o.alert_id"
        ),
        params![alert_id, fingerprint, now],
    )
}

/// Claims due items: pending ones whose time has come, and sending ones whose lease expired.
pub(super) fn claim(
    conn: &mut Connection,
    owner: Option<&str>,
    now: i64,
    limit: i64,
    lease_until: i64,
) -> rusqlite::Result<Vec<OutboxEntry>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let ids: Vec<i64> = {
        let mut st = tx.prepare_cached(
            "SELECT id FROM outbox WHERE status IN ('pending', 'sending') AND next_attempt_at <= ?1 \
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        st.query_map(params![now, limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::with_capacity(ids.len());
    {
        let mut upd = tx.prepare_cached(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?2, lease_owner = ?3 WHERE id = ?1",
        )?;
        let mut get = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))?;
        for id in ids {
            upd.execute(params![id, lease_until, owner])?;
            out.push(get.query_row([id], entry)?);
        }
    }
    tx.commit()?;
    Ok(out)
}

/// Puts the `sending` items of every lease owner `dead` says is gone back to `pending`, due
/// `now`; returns how many. One transaction: a live owner's items are never touched.
pub(super) fn release_dead(
    conn: &mut Connection,
    dead: &dyn Fn(Option<&str>) -> bool,
    now: i64,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let owners: Vec<Option<String>> = {
        let mut st =
            tx.prepare_cached("SELECT DISTINCT lease_owner FROM outbox WHERE status = 'sending'")?;
        st.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut n = 0;
    {
        let mut upd = tx.prepare_cached(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, lease_owner = NULL \
             WHERE status = 'sending' AND lease_owner IS ?1",
        )?;
        for owner in owners.iter().filter(|o| dead(o.as_deref())) {
            n += upd.execute(params![owner, now])?;
        }
    }
    tx.commit()?;
    Ok(n)
}

/// Item counts by status (one `COUNT … GROUP BY`, for `/metrics`).
pub(super) fn counts(conn: &Connection) -> rusqlite::Result<Vec<(OutboxStatus, u64)>> {
    let mut st = conn.prepare_cached("SELECT status, COUNT(*) FROM outbox GROUP BY status")?;
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .filter_map(|r| match r {
            Ok((s, n)) => OutboxStatus::parse(&s).map(|s| Ok((s, u64::try_from(n).unwrap_or(0)))),
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// Item counts by channel for one status (failed deliveries per channel, for `/metrics`).
pub(super) fn counts_by_channel(
    conn: &Connection,
    status: OutboxStatus,
) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut st = conn.prepare_cached(
        "SELECT channel, COUNT(*) FROM outbox WHERE status = ?1 GROUP BY channel ORDER BY channel",
    )?;
    st.query_map([status.as_str()], |r| {
        Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
    })?
    .collect()
}

/// Items with a status, oldest first.
pub(super) fn list(
    conn: &Connection,
    status: OutboxStatus,
    limit: i64,
) -> rusqlite::Result<Vec<OutboxEntry>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE status = ?1 ORDER BY created_at, id LIMIT ?2"
    ))?;
    st.query_map(params![status.as_str(), limit], entry)?
        .collect()
}
