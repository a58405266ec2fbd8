//! The engine's hot path on SQLite: recording an event's alerts (dedupe mark, alert row, history
//! row, drifts, outbox items) inside a group-commit transaction, and the history reads every alert's
//! enrichment makes. Functions over a connection or transaction; [`super::SqliteStore`]
//! holds the lock and turns `rusqlite` errors into `StoreError`s naming the database.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::sqlite::{from_ms, limit_i64, ms};
use super::{EventRecord, HistoryEntry, HistorySummary, fingerprint};

pub(super) const INSERT_HISTORY: &str = "INSERT INTO history (resource_key, time, address, actor, kind, event_name, event_id, alert_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const INSERT_ALERT: &str = "INSERT OR IGNORE INTO alerts (id, time, kind, severity, provider, resource_type, resource_id, resource_address, fingerprint, actor_principal, actor_arn, actor_email, event_id, event_name, recorded_at, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

pub(super) const INSERT_SEEN: &str =
    "INSERT OR IGNORE INTO events_seen (key, event_time, seen_at) VALUES (?1, ?2, ?3)";

const HISTORY_COLUMNS: &str =
    "resource_key, time, address, actor, kind, event_name, event_id, alert_id";

fn history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryEntry> {
    Ok(HistoryEntry {
        resource_key: r.get(0)?,
        time: from_ms(r.get(1)?),
        address: r.get(2)?,
        actor: r.get(3)?,
        kind: r.get(4)?,
        event_name: r.get(5)?,
        event_id: r.get(6)?,
        alert_id: r.get(7)?,
    })
}

/// One entry of a batch inside the caller's transaction: `Ok(false)` and nothing written when
/// its first key was already processed. Errors name the step for the message.
pub(super) fn record_one(
    tx: &rusqlite::Transaction<'_>,
    rec: &EventRecord<'_>,
    now: i64,
) -> Result<bool, (&'static str, rusqlite::Error)> {
    let mut st = tx
        .prepare_cached(INSERT_SEEN)
        .map_err(|e| ("record event", e))?;
    for (i, key) in rec.seen.iter().enumerate() {
        let n = st
            .execute(params![key, rec.time.map(ms), now])
            .map_err(|e| ("record event", e))?;
        if i == 0 && n == 0 {
            // Already processed (the first key is the event id): write nothing for it.
            return Ok(false);
        }
    }
    let mut ins = tx
        .prepare_cached(INSERT_ALERT)
        .map_err(|e| ("insert alert", e))?;
    let mut hist = tx
        .prepare_cached(INSERT_HISTORY)
        .map_err(|e| ("insert history", e))?;
    let mut inserted = std::collections::HashSet::new();
    for a in rec.alerts {
        let json = serde_json::to_string(a).unwrap_or_default();
        let n = ins
            .execute(params![
                a.id,
                ms(a.time),
                a.kind.as_str(),
                a.severity.as_str(),
                a.provider,
                a.resource.rtype,
                a.resource.id,
                a.resource.address,
                fingerprint(a),
                a.actor.principal,
                a.actor.arn,
                a.actor.email,
                a.event.id,
                a.event.name,
                now,
                json
            ])
            .map_err(|e| ("insert alert", e))?;
        if n == 1 {
            inserted.insert(a.id.as_str());
            let h = HistoryEntry::from_alert(a);
            insert_history(&mut hist, &h).map_err(|e| ("insert history", e))?;
        }
    }
    let outbox = super::sqlite_drift::apply_ops(tx, rec.drifts, &inserted, rec.outbox)
        .map_err(|e| ("update drifts", e))?;
    super::sqlite_outbox::enqueue(tx, &outbox, now).map_err(|e| ("enqueue", e))?;
    Ok(true)
}

/// One history row through the prepared [`INSERT_HISTORY`] statement (shared by the bulk
/// import and the per-alert path so the column order lives in one place).
pub(super) fn insert_history(
    st: &mut rusqlite::CachedStatement<'_>,
    h: &HistoryEntry,
) -> rusqlite::Result<usize> {
    st.execute(params![
        h.resource_key,
        ms(h.time),
        h.address,
        h.actor,
        h.kind,
        h.event_name,
        h.event_id,
        h.alert_id
    ])
}

/// [`super::Store::history_summary`]: per-day counts over the covering (resource_key, time)
/// index, newest `cap` rows only, and the newest `recent` rows.
pub(super) fn summary(
    conn: &Connection,
    resource_key: &str,
    until: DateTime<Utc>,
    recent: usize,
    cap: usize,
) -> rusqlite::Result<HistorySummary> {
    let (u, since) = (ms(until), ms(until - chrono::Duration::days(7)));
    let mut s = HistorySummary::default();
    let mut st = conn.prepare_cached(
        "SELECT (?3 - time) / 86400000, COUNT(*) FROM (SELECT time FROM history \
         WHERE resource_key = ?1 AND time > ?2 AND time <= ?3 \
         ORDER BY time DESC LIMIT ?4) GROUP BY 1",
    )?;
    let mut rows = st.query(params![
        resource_key,
        since,
        u,
        limit_i64(cap.saturating_add(1))
    ])?;
    let mut counted = 0usize;
    while let Some(r) = rows.next()? {
        let (day, n): (i64, i64) = (r.get(0).unwrap_or(7), r.get(1).unwrap_or(0));
        let n = usize::try_from(n).unwrap_or(0);
        counted += n;
        if let Ok(day) = usize::try_from(day)
            && day < 7
        {
            s.days[6 - day] += u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    if counted > cap {
        // The query read one row past the cap to tell; take it back off the oldest day.
        s.capped = true;
        if let Some(d) = s.days.iter_mut().find(|d| **d > 0) {
            *d -= 1;
        }
    }
    let mut st = conn.prepare_cached(&format!(
        "SELECT {HISTORY_COLUMNS} FROM history \
         WHERE resource_key = ?1 AND time > ?2 AND time <= ?3 \
         ORDER BY time DESC, id DESC LIMIT ?4"
    ))?;
    s.recent = st
        .query_map(
            params![resource_key, since, u, limit_i64(recent)],
            history_row,
        )
        .and_then(Iterator::collect)?;
    Ok(s)
}

/// [`super::Store::history`]: every change to `resource_key` since `since`, oldest first.
pub(super) fn resource(
    conn: &Connection,
    resource_key: &str,
    since: DateTime<Utc>,
) -> rusqlite::Result<Vec<HistoryEntry>> {
    conn.prepare_cached(&format!(
        "SELECT {HISTORY_COLUMNS} FROM history \
         WHERE resource_key = ?1 AND time >= ?2 ORDER BY time, id"
    ))?
    .query_map(params![resource_key, ms(since)], history_row)
    .and_then(Iterator::collect)
}

/// [`super::Store::actor_recent`]: the actor's newest `limit` changes since `since`.
pub(super) fn actor_recent(
    conn: &Connection,
    actor: &str,
    since: DateTime<Utc>,
    limit: usize,
) -> rusqlite::Result<Vec<HistoryEntry>> {
    conn.prepare_cached(&format!(
        "SELECT {HISTORY_COLUMNS} FROM history \
         WHERE actor = ?1 AND time >= ?2 ORDER BY time DESC, id DESC LIMIT ?3"
    ))?
    .query_map(params![actor, ms(since), limit_i64(limit)], history_row)
    .and_then(Iterator::collect)
}
