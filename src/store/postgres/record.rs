//! The engine's hot path on PostgreSQL — recording an event's alerts (dedupe mark, alert row,
//! history row, drifts, outbox items) inside the group-commit transaction — the history reads
//! of every alert's enrichment, and acknowledgement and snooze rows. Mirrors
//! `sqlite_history.rs` statement for statement.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{from_ms, limit_i64, ms, target_cols, target_of};
use crate::alert::Alert;
use crate::store::{Ack, EventRecord, HistoryEntry, HistorySummary, Snooze, Target, fingerprint};

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The dedupe mark: the primary key decides, across every replica, which writer records an
/// event (a concurrent insert of the same key waits for the other's commit, then does nothing).
pub(super) const INSERT_SEEN: &str = "INSERT INTO events_seen (key, event_time, seen_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING";

const INSERT_ALERT: &str = "INSERT INTO alerts (id, time, kind, severity, provider, resource_type, resource_id, resource_address, fingerprint, actor_principal, actor_arn, actor_email, event_id, event_name, recorded_at, json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (id) DO NOTHING";

const INSERT_HISTORY: &str = "INSERT INTO history (resource_key, time, address, actor, kind, event_name, event_id, alert_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const HISTORY_COLUMNS: &str =
    "resource_key, time, address, actor, kind, event_name, event_id, alert_id";

fn history_row(r: &Row) -> HistoryEntry {
    HistoryEntry {
        resource_key: r.get(0),
        time: from_ms(r.get(1)),
        address: r.get(2),
        actor: r.get(3),
        kind: r.get(4),
        event_name: r.get(5),
        event_id: r.get(6),
        alert_id: r.get(7),
    }
}

/// One entry of a batch inside the caller's transaction: `Ok(false)` and nothing written when
/// its first key was already processed.
pub(super) async fn record_one(
    tx: &deadpool_postgres::Transaction<'_>,
    rec: &EventRecord<'_>,
    now: i64,
) -> PgResult<bool> {
    let st = tx.prepare_cached(INSERT_SEEN).await?;
    let time = rec.time.map(ms);
    for (i, key) in rec.seen.iter().enumerate() {
        let n = tx.execute(&st, &[key, &time, &now]).await?;
        if i == 0 && n == 0 {
            return Ok(false);
        }
    }
    let ins = tx.prepare_cached(INSERT_ALERT).await?;
    let mut inserted = HashSet::new();
    for a in rec.alerts {
        let json = serde_json::to_string(a).unwrap_or_default();
        let n = tx
            .execute(
                &ins,
                &[
                    &a.id,
                    &ms(a.time),
                    &a.kind.as_str(),
                    &a.severity.as_str(),
                    &a.provider,
                    &a.resource.rtype,
                    &a.resource.id,
                    &a.resource.address,
                    &fingerprint(a),
                    &a.actor.principal,
                    &a.actor.arn,
                    &a.actor.email,
                    &a.event.id,
                    &a.event.name,
                    &now,
                    &json,
                ],
            )
            .await?;
        if n == 1 {
            inserted.insert(a.id.as_str());
            insert_history(tx, std::slice::from_ref(&HistoryEntry::from_alert(a))).await?;
        }
    }
    let outbox = super::drift::apply_ops(tx, rec.drifts, &inserted, rec.outbox).await?;
    super::outbox::enqueue(tx, &outbox, now).await?;
    Ok(true)
}

/// History rows through one prepared statement (the per-alert path and bulk imports).
pub(super) async fn insert_history(c: &impl GenericClient, rows: &[HistoryEntry]) -> PgResult<()> {
    let st = c.prepare_cached(INSERT_HISTORY).await?;
    for h in rows {
        c.execute(
            &st,
            &[
                &h.resource_key,
                &ms(h.time),
                &h.address,
                &h.actor,
                &h.kind,
                &h.event_name,
                &h.event_id,
                &h.alert_id,
            ],
        )
        .await?;
    }
    Ok(())
}

/// [`crate::store::Store::history_summary`]: per-day counts of the newest `cap` rows, and the
/// newest `recent` rows.
pub(super) async fn summary(
    c: &impl GenericClient,
    resource_key: &str,
    until: DateTime<Utc>,
    recent: usize,
    cap: usize,
) -> PgResult<HistorySummary> {
    let (u, since) = (ms(until), ms(until - chrono::Duration::days(7)));
    let mut s = HistorySummary::default();
    let st = c
        .prepare_cached(
            "SELECT ($3 - time) / 86400000, COUNT(*) FROM (SELECT time FROM history \
             WHERE resource_key = $1 AND time > $2 AND time <= $3 \
             ORDER BY time DESC LIMIT $4) AS newest GROUP BY 1",
        )
        .await?;
    let rows = c
        .query(
            &st,
            &[&resource_key, &since, &u, &limit_i64(cap.saturating_add(1))],
        )
        .await?;
    let mut counted = 0usize;
    for r in rows {
        let (day, n): (i64, i64) = (r.get(0), r.get(1));
        let n = usize::try_from(n).unwrap_or(0);
        counted += n;
        if let Ok(day) = usize::try_from(day)
            && day < 7
        {
            s.days[6 - day] += u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    if counted > cap {
        s.capped = true;
        if let Some(d) = s.days.iter_mut().find(|d| **d > 0) {
            *d -= 1;
        }
    }
    let st = c
        .prepare_cached(&format!(
            "SELECT {HISTORY_COLUMNS} FROM history \
             WHERE resource_key = $1 AND time > $2 AND time <= $3 \
             ORDER BY time DESC, id DESC LIMIT $4"
        ))
        .await?;
    s.recent = c
        .query(&st, &[&resource_key, &since, &u, &limit_i64(recent)])
        .await?
        .iter()
        .map(history_row)
        .collect();
    Ok(s)
}

/// Every change to `resource_key` since `since`, oldest first.
pub(super) async fn resource(
    c: &impl GenericClient,
    resource_key: &str,
    since: DateTime<Utc>,
) -> PgResult<Vec<HistoryEntry>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {HISTORY_COLUMNS} FROM history \
             WHERE resource_key = $1 AND time >= $2 ORDER BY time, id"
        ))
        .await?;
    Ok(c.query(&st, &[&resource_key, &ms(since)])
        .await?
        .iter()
        .map(history_row)
        .collect())
}

/// The actor's newest `limit` changes since `since`.
pub(super) async fn actor_recent(
    c: &impl GenericClient,
    actor: &str,
    since: DateTime<Utc>,
    limit: usize,
) -> PgResult<Vec<HistoryEntry>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {HISTORY_COLUMNS} FROM history \
             WHERE actor = $1 AND time >= $2 ORDER BY time DESC, id DESC LIMIT $3"
        ))
        .await?;
    Ok(c.query(&st, &[&actor, &ms(since), &limit_i64(limit)])
        .await?
        .iter()
        .map(history_row)
        .collect())
}

/// Inserts an acknowledgement (its journal entry comes from the trigger); returns its id.
pub(super) async fn insert_ack(
    c: &impl GenericClient,
    target: &Target,
    who: &str,
    marker: Option<&str>,
    comment: Option<&str>,
    at: DateTime<Utc>,
) -> PgResult<i64> {
    let (a, f) = target_cols(target);
    Ok(c.query_one(
        "INSERT INTO acks (alert_id, fingerprint, who, note, comment, at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[&a, &f, &who, &marker, &comment, &ms(at)],
    )
    .await?
    .get(0))
}

/// Inserts a snooze; returns its id.
pub(super) async fn insert_snooze(
    c: &impl GenericClient,
    target: &Target,
    who: &str,
    until: DateTime<Utc>,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> PgResult<i64> {
    let (a, f) = target_cols(target);
    Ok(c.query_one(
        "INSERT INTO snoozes (alert_id, fingerprint, who, until, note, at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[&a, &f, &who, &ms(until), &note, &ms(at)],
    )
    .await?
    .get(0))
}

/// Acknowledgements of an alert, by id or fingerprint, oldest first.
pub(super) async fn acks_for(c: &impl GenericClient, alert: &Alert) -> PgResult<Vec<Ack>> {
    let st = c
        .prepare_cached(
            "SELECT id, alert_id, fingerprint, who, note, at FROM acks \
             WHERE alert_id = $1 OR fingerprint = $2 ORDER BY at, id",
        )
        .await?;
    Ok(c.query(&st, &[&alert.id, &fingerprint(alert)])
        .await?
        .iter()
        .map(|r| Ack {
            id: r.get(0),
            target: target_of(r.get(1), r.get(2)),
            who: r.get(3),
            note: r.get(4),
            at: from_ms(r.get(5)),
        })
        .collect())
}

/// The snooze muting an alert at `now` that lasts longest.
pub(super) async fn snoozed(
    c: &impl GenericClient,
    alert: &Alert,
    now: DateTime<Utc>,
) -> PgResult<Option<Snooze>> {
    let st = c
        .prepare_cached(
            "SELECT id, alert_id, fingerprint, who, until, note, at FROM snoozes \
             WHERE (alert_id = $1 OR fingerprint = $2) AND until > $3 ORDER BY until DESC LIMIT 1",
        )
        .await?;
    Ok(
        c.query_opt(&st, &[&alert.id, &fingerprint(alert), &ms(now)])
            .await?
            .map(|r| Snooze {
                id: r.get(0),
                target: target_of(r.get(1), r.get(2)),
                who: r.get(3),
                until: from_ms(r.get(4)),
                note: r.get(5),
                at: from_ms(r.get(6)),
            }),
    )
}
