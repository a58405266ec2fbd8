//! The notification outbox on PostgreSQL: enqueue inside the alert transaction, claim with a
//! lease, list by status.
//!
//! Replicas are competing consumers of one outbox: a claim selects due rows
//! `FOR UPDATE SKIP LOCKED` and marks them `sending` with a lease in the same statement, so two
//! workers claiming at once never get the same row, and neither waits for the other. A worker
//! that dies mid-send leaves its rows `sending` until `next_attempt_at`, when they are due
//! again for any replica (at-least-once, as on SQLite); a worker restarting on the same host
//! takes back at once the leases of its own dead processes ([`release_dead`]).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::from_ms;
use crate::store::{OutboxEntry, OutboxItem, OutboxStatus};

type PgResult<T> = Result<T, tokio_postgres::Error>;

const COLUMNS: &str = "id, channel, alert_id, payload, created_at, next_attempt_at, attempts, status, last_error, delivered_at";

fn entry(r: &Row) -> OutboxEntry {
    let status: String = r.get(7);
    OutboxEntry {
        id: r.get(0),
        channel: r.get(1),
        alert_id: r.get(2),
        payload: r.get(3),
        created_at: from_ms(r.get(4)),
        next_attempt_at: from_ms(r.get(5)),
        attempts: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
        // The CHECK constraint keeps other values out.
        status: OutboxStatus::parse(&status).unwrap_or(OutboxStatus::Pending),
        last_error: r.get(8),
        delivered_at: r.get::<_, Option<i64>>(9).map(from_ms),
    }
}

/// Inserts pending items due now.
pub(super) async fn enqueue(
    c: &impl GenericClient,
    items: &[OutboxItem],
    now: i64,
) -> PgResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let st = c
        .prepare_cached(
            "INSERT INTO outbox (channel, alert_id, payload, created_at, next_attempt_at, attempts, status) \
             VALUES ($1, $2, $3, $4, $4, 0, 'pending')",
        )
        .await?;
    for it in items {
        c.execute(&st, &[&it.channel, &it.alert_id, &it.payload, &now])
            .await?;
    }
    Ok(())
}

/// Enqueues a `resolve` for every channel that was sent a trigger for the acknowledged alert
/// (or any alert with the fingerprint) and asked for one (`resolve_on_ack`), unless it already
/// got a resolve after its last trigger — as SQLite's `enqueue_resolves`. The payload is the
/// notifier's `{"type":"resolve","alert":…}` envelope around the stored alert JSON, byte for
/// byte. Payloads that are not JSON are skipped.
pub(super) async fn enqueue_resolves(
    c: &impl GenericClient,
    alert_id: Option<&str>,
    fingerprint: Option<&str>,
    now: i64,
) -> PgResult<usize> {
    const SELECT: &str = "SELECT o.id, o.channel, o.alert_id, o.payload, a.json \
        FROM outbox o JOIN alerts a ON a.id = o.alert_id WHERE ";
    let rows = match (alert_id, fingerprint) {
        (Some(a), _) => {
            c.query(&format!("{SELECT} o.alert_id = $1 ORDER BY o.id"), &[&a])
                .await?
        }
        (None, f) => {
            c.query(
                &format!(
                    "{SELECT} o.alert_id IN (SELECT id FROM alerts WHERE fingerprint = $1) ORDER BY o.id"
                ),
                &[&f],
            )
            .await?
        }
    };
    // Per (channel, alert): whether its last trigger still lacks a resolve.
    let mut want: Vec<(String, String, String)> = Vec::new();
    let mut resolved_after: Vec<(String, String, i64)> = Vec::new();
    let mut triggers: Vec<(i64, String, String, String)> = Vec::new();
    for r in &rows {
        let (id, channel, alert, payload, json): (i64, String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        match serde_json::from_str::<serde_json::Value>(&payload) {
            Ok(v) if v["type"] == "alert" && v["resolve_on_ack"] == true => {
                triggers.push((id, channel, alert, json));
            }
            Ok(v) if v["type"] == "resolve" => resolved_after.push((channel, alert, id)),
            _ => {}
        }
    }
    for (id, channel, alert, json) in triggers {
        let answered = resolved_after
            .iter()
            .any(|(ch, al, rid)| *ch == channel && *al == alert && *rid > id);
        if !answered
            && !want
                .iter()
                .any(|(ch, al, _)| *ch == channel && *al == alert)
        {
            want.push((channel, alert, json));
        }
    }
    let items: Vec<OutboxItem> = want
        .into_iter()
        .map(|(channel, alert_id, json)| OutboxItem {
            channel,
            alert_id,
            payload: format!("{{\"type\":\"resolve\",\"alert\":{json}}}"),
        })
        .collect();
    enqueue(c, &items, now).await?;
    Ok(items.len())
}

/// Claims due items (pending ones whose time has come, sending ones whose lease expired),
/// skipping rows another worker is claiming at this moment.
pub(super) async fn claim(
    c: &impl GenericClient,
    owner: Option<&str>,
    now: i64,
    limit: i64,
    lease_until: i64,
) -> PgResult<Vec<OutboxEntry>> {
    let st = c
        .prepare_cached(&format!(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, \
                 next_attempt_at = $3, lease_owner = $4 \
             WHERE id IN (SELECT id FROM outbox \
                 WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}"
        ))
        .await?;
    let mut out: Vec<OutboxEntry> = c
        .query(&st, &[&now, &limit, &lease_until, &owner])
        .await?
        .iter()
        .map(entry)
        .collect();
    out.sort_by_key(|e| e.id);
    Ok(out)
}

/// Puts the `sending` items of every lease owner `dead` says is gone back to `pending`, due
/// `now`; returns how many.
pub(super) async fn release_dead(
    c: &mut deadpool_postgres::Client,
    dead: &dyn Fn(Option<&str>) -> bool,
    now: i64,
) -> PgResult<usize> {
    let tx = c.transaction().await?;
    let owners: Vec<Option<String>> = tx
        .query(
            "SELECT DISTINCT lease_owner FROM outbox WHERE status = 'sending'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut n = 0;
    for owner in owners.iter().filter(|o| dead(o.as_deref())) {
        n += tx
            .execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = $2, lease_owner = NULL \
                 WHERE status = 'sending' AND lease_owner IS NOT DISTINCT FROM $1",
                &[owner, &now],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Item counts by status.
pub(super) async fn counts(c: &impl GenericClient) -> PgResult<Vec<(OutboxStatus, u64)>> {
    Ok(
        c.query("SELECT status, COUNT(*) FROM outbox GROUP BY status", &[])
            .await?
            .iter()
            .filter_map(|r| {
                OutboxStatus::parse(r.get(0))
                    .map(|s| (s, u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
            })
            .collect(),
    )
}

/// Item counts by channel for one status.
pub(super) async fn counts_by_channel(
    c: &impl GenericClient,
    status: OutboxStatus,
) -> PgResult<Vec<(String, u64)>> {
    Ok(c.query(
        "SELECT channel, COUNT(*) FROM outbox WHERE status = $1 GROUP BY channel ORDER BY channel",
        &[&status.as_str()],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
    .collect())
}

/// Items with a status, oldest first.
pub(super) async fn list(
    c: &impl GenericClient,
    status: OutboxStatus,
    limit: i64,
) -> PgResult<Vec<OutboxEntry>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = $1 ORDER BY created_at, id LIMIT $2"
        ))
        .await?;
    Ok(c.query(&st, &[&status.as_str(), &limit])
        .await?
        .iter()
        .map(entry)
        .collect())
}
