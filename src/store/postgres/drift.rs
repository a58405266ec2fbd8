//! Drifts on PostgreSQL: the `drifts` and `drift_events` tables (migration 3), applied with
//! [`crate::drift::apply`] inside the caller's transaction exactly as `sqlite_drift.rs` does
//! (same columns, same text encodings, same notification decisions). The caller holds the
//! writers' lock, so a drift's read-modify-write is never interleaved with another replica's.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;

use crate::alert::Severity;
use crate::drift::{
    Drift, DriftEvent, DriftNote, DriftOp, EventKind, Input, Notice, Reason, Resolution, Status,
    Target, Transition, apply,
};
use crate::store::{DriftAction, DriftFilter, OutboxItem};

type PgResult<T> = Result<T, tokio_postgres::Error>;

const COLUMNS: &str = "id, key, kind, provider, rtype, resource_id, address, attribute, status, \
    snoozed_until, first_seen, last_seen, occurrences, episode, actors, observed, state_value, \
    severity, rules, last_alert_id, resolved_at, resolved_reason, resolved_by, updated_at, channels";

const EVENT_COLS: &str = "id, drift_id, at, kind, who, reason, note, alert_id";

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn json_col<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn row(r: &Row) -> Drift {
    let status: String = r.get(8);
    let severity: String = r.get(17);
    let reason: Option<String> = r.get(21);
    Drift {
        id: r.get(0),
        key: r.get(1),
        kind: r.get(2),
        provider: r.get(3),
        rtype: r.get(4),
        resource_id: r.get(5),
        address: r.get(6),
        attribute: r.get(7),
        status: Status::parse(&status).unwrap_or(Status::Open),
        snoozed_until: r.get::<_, Option<String>>(9).as_deref().map(time),
        first_seen: time(r.get(10)),
        last_seen: time(r.get(11)),
        occurrences: r.get::<_, i64>(12).try_into().unwrap_or(0),
        episode: r.get::<_, i64>(13).try_into().unwrap_or(1),
        actors: json_col(r.get(14)),
        observed: json_col(r.get(15)),
        state_value: json_col(r.get(16)),
        severity: Severity::parse(&severity).unwrap_or_default(),
        rules: json_col(r.get(18)),
        last_alert_id: r.get(19),
        resolved_at: r.get::<_, Option<String>>(20).as_deref().map(time),
        resolved_reason: reason.as_deref().and_then(Reason::parse),
        resolved_by: r.get(22),
        updated_at: time(r.get(23)),
        channels: json_col(r.get(24)),
    }
}

fn event_row(r: &Row) -> DriftEvent {
    let kind: String = r.get(3);
    let reason: Option<String> = r.get(5);
    DriftEvent {
        id: r.get(0),
        drift_id: r.get(1),
        at: time(r.get(2)),
        kind: EventKind::parse(&kind).unwrap_or(EventKind::Occurred),
        who: r.get(4),
        reason: reason.as_deref().and_then(Reason::parse),
        note: r.get(6),
        alert_id: r.get(7),
    }
}

async fn upsert(c: &impl GenericClient, d: &Drift) -> PgResult<()> {
    let updates = COLUMNS
        .split(", ")
        .map(str::trim)
        .filter(|col| *col != "id")
        .map(|col| format!("{col} = EXCLUDED.{col}"))
        .collect::<Vec<_>>()
        .join(", ");
    let st = c
        .prepare_cached(&format!(
            "INSERT INTO drifts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25) \
             ON CONFLICT (id) DO UPDATE SET {updates}"
        ))
        .await?;
    c.execute(
        &st,
        &[
            &d.id,
            &d.key,
            &d.kind,
            &d.provider,
            &d.rtype,
            &d.resource_id,
            &d.address,
            &d.attribute,
            &d.status.as_str(),
            &d.snoozed_until.map(text),
            &text(d.first_seen),
            &text(d.last_seen),
            &i64::try_from(d.occurrences).unwrap_or(i64::MAX),
            &i64::from(d.episode),
            &to_json(&d.actors),
            &to_json(&d.observed),
            &to_json(&d.state_value),
            &d.severity.as_str(),
            &to_json(&d.rules),
            &d.last_alert_id,
            &d.resolved_at.map(text),
            &d.resolved_reason.map(Reason::as_str),
            &d.resolved_by,
            &text(d.updated_at),
            &to_json(&d.channels),
        ],
    )
    .await
    .map(drop)
}

async fn write(c: &impl GenericClient, t: &Transition) -> PgResult<()> {
    upsert(c, &t.drift).await?;
    let st = c
        .prepare_cached(
            "INSERT INTO drift_events (drift_id, at, kind, who, reason, note, alert_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for e in &t.events {
        c.execute(
            &st,
            &[
                &e.drift_id,
                &text(e.at),
                &e.kind.as_str(),
                &e.who,
                &e.reason.map(Reason::as_str),
                &e.note,
                &e.alert_id,
            ],
        )
        .await?;
    }
    Ok(())
}

/// One drift by id.
pub(super) async fn get(c: &impl GenericClient, id: &str) -> PgResult<Option<Drift>> {
    let st = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM drifts WHERE id = $1"))
        .await?;
    Ok(c.query_opt(&st, &[&id]).await?.as_ref().map(row))
}

/// Drifts by filter: unresolved first, then most severe, then newest.
pub(super) async fn list(c: &impl GenericClient, f: &DriftFilter) -> PgResult<Vec<Drift>> {
    let which = if f.unresolved_only {
        "WHERE status != 'resolved'"
    } else {
        ""
    };
    let mut out: Vec<Drift> = c
        .query(&format!("SELECT {COLUMNS} FROM drifts {which}"), &[])
        .await?
        .iter()
        .map(row)
        .collect();
    if let Some(min) = f.min_severity {
        out.retain(|d| d.severity >= min);
    }
    out.sort_by(|a, b| {
        (a.status == Status::Resolved)
            .cmp(&(b.status == Status::Resolved))
            .then(b.severity.cmp(&a.severity))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.id.cmp(&b.id))
    });
    if f.limit > 0 {
        out.truncate(f.limit);
    }
    Ok(out)
}

/// The events of a drift, oldest first.
pub(super) async fn events(c: &impl GenericClient, id: &str) -> PgResult<Vec<DriftEvent>> {
    Ok(c.query(
        &format!("SELECT {EVENT_COLS} FROM drift_events WHERE drift_id = $1 ORDER BY id"),
        &[&id],
    )
    .await?
    .iter()
    .map(event_row)
    .collect())
}

/// One drift event by row id with its drift as it is now; `None` when either was pruned.
pub(super) async fn event_with_drift(
    c: &impl GenericClient,
    event_id: i64,
) -> PgResult<Option<(DriftEvent, Drift)>> {
    let Some(ev) = c
        .query_opt(
            &format!("SELECT {EVENT_COLS} FROM drift_events WHERE id = $1"),
            &[&event_id],
        )
        .await?
        .as_ref()
        .map(event_row)
    else {
        return Ok(None);
    };
    Ok(get(c, &ev.drift_id).await?.map(|d| (ev, d)))
}

/// The unresolved drifts a resolution targets.
async fn targets(c: &impl GenericClient, t: &Target) -> PgResult<Vec<Drift>> {
    match t {
        Target::Id(id) => Ok(get(c, id)
            .await?
            .into_iter()
            .filter(Drift::is_unresolved)
            .collect()),
        Target::Resource(sel) => {
            let found: Vec<Drift> = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM drifts WHERE status != 'resolved' AND \
                         (($1::TEXT IS NOT NULL AND address = $1) OR (rtype = $2 AND resource_id = $3))"
                    ),
                    &[&sel.address, &sel.rtype, &sel.resource_id],
                )
                .await?
                .iter()
                .map(row)
                .collect();
            Ok(found.into_iter().filter(|d| sel.selects(d)).collect())
        }
    }
}

/// `resolve` items for every channel told about the drift's episode.
async fn resolve_items(c: &impl GenericClient, d: &Drift) -> PgResult<Vec<OutboxItem>> {
    if d.channels.is_empty() {
        return Ok(Vec::new());
    }
    let alert: Option<String> = c
        .query_opt("SELECT json FROM alerts WHERE id = $1", &[&d.last_alert_id])
        .await?
        .map(|r| r.get(0));
    let Some(alert) = alert.and_then(|j| serde_json::from_str::<Value>(&j).ok()) else {
        tracing::warn!(drift = %d.id, alert = %d.last_alert_id, "The drift's last alert is no longer stored; its channels are not told it is resolved");
        return Ok(Vec::new());
    };
    let payload = serde_json::json!({
        "type": "resolve",
        "alert": alert,
        "drift": DriftNote::new(d, Notice::Resolved),
    })
    .to_string();
    Ok(d.channels
        .iter()
        .map(|ch| OutboxItem {
            channel: ch.clone(),
            alert_id: d.last_alert_id.clone(),
            payload: payload.clone(),
        })
        .collect())
}

/// Applies one resolution; returns the drifts it resolved, their `resolve` items in `out`.
pub(super) async fn resolve(
    c: &impl GenericClient,
    r: &Resolution,
    out: &mut Vec<OutboxItem>,
) -> PgResult<Vec<Drift>> {
    let mut done = Vec::new();
    for d in targets(c, &r.target)
        .await?
        .into_iter()
        .filter(|d| d.last_seen <= r.at)
    {
        let input = Input::Resolve {
            reason: r.reason,
            who: r.who.as_deref(),
            at: r.at,
            note: r.note.as_deref(),
        };
        if let Some(t) = apply(Some(&d), &input) {
            write(c, &t).await?;
            out.extend(resolve_items(c, &t.drift).await?);
            done.push(t.drift);
        }
    }
    Ok(done)
}

/// A person's action on one drift; `None` when unknown or already resolved.
pub(super) async fn act(
    c: &impl GenericClient,
    id: &str,
    action: DriftAction,
    who: &str,
    at: DateTime<Utc>,
    out: &mut Vec<OutboxItem>,
) -> PgResult<Option<Drift>> {
    let input = match action {
        DriftAction::Acknowledge => Input::Ack { who, at },
        DriftAction::Snooze(until) => Input::Snooze { who, until, at },
        DriftAction::Resolve => Input::Resolve {
            reason: Reason::Manual,
            who: Some(who),
            at,
            note: None,
        },
    };
    let Some(prev) = get(c, id).await? else {
        return Ok(None);
    };
    let Some(t) = apply(Some(&prev), &input) else {
        return Ok(None);
    };
    write(c, &t).await?;
    if t.notice == Notice::Resolved {
        out.extend(resolve_items(c, &t.drift).await?);
    }
    Ok(Some(t.drift))
}

/// Sets `drift` in an outbox payload (a JSON object); other payloads are left alone.
fn stamp(payload: &str, note: &DriftNote) -> String {
    match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(mut m)) => {
            m.insert(
                "drift".into(),
                serde_json::to_value(note).unwrap_or(Value::Null),
            );
            Value::Object(m).to_string()
        }
        _ => payload.to_string(),
    }
}

/// Applies an event's drift operations and decides its notifications, as SQLite's `apply_ops`.
pub(super) async fn apply_ops(
    c: &impl GenericClient,
    ops: &[DriftOp],
    inserted: &HashSet<&str>,
    outbox: &[OutboxItem],
) -> PgResult<Vec<OutboxItem>> {
    if ops.is_empty() {
        return Ok(outbox.to_vec());
    }
    let mut per_alert: HashMap<&str, (Vec<Drift>, Option<DriftNote>)> = HashMap::new();
    let mut resolves = Vec::new();
    for op in ops {
        match op {
            DriftOp::Occur(o) => {
                if !inserted.contains(o.alert_id.as_str()) {
                    continue;
                }
                let prev = get(c, &o.id).await?;
                let Some(t) = apply(prev.as_ref(), &Input::Occur(o)) else {
                    continue;
                };
                write(c, &t).await?;
                let entry = per_alert.entry(o.alert_id.as_str()).or_default();
                if entry.1.is_none() && t.notice != Notice::Quiet {
                    entry.1 = Some(DriftNote::new(&t.drift, t.notice));
                }
                entry.0.push(t.drift);
            }
            DriftOp::Resolve(r) => {
                resolve(c, r, &mut resolves).await?;
            }
        }
    }
    let mut out = Vec::with_capacity(outbox.len() + resolves.len());
    let mut told: HashMap<String, Vec<String>> = HashMap::new();
    for item in outbox {
        let Some((drifts, note)) = per_alert.get(item.alert_id.as_str()) else {
            out.push(item.clone());
            continue;
        };
        let note = note.clone().or_else(|| {
            drifts
                .iter()
                .find(|d| d.status != Status::Snoozed && !d.channels.contains(&item.channel))
                .map(|d| DriftNote::new(d, Notice::Opened))
        });
        let Some(note) = note else {
            continue;
        };
        out.push(OutboxItem {
            payload: stamp(&item.payload, &note),
            ..item.clone()
        });
        for d in drifts {
            told.entry(d.id.clone())
                .or_default()
                .push(item.channel.clone());
        }
    }
    // Sorted, so that the writes happen in one order whatever the hash map's.
    let mut told: Vec<(String, Vec<String>)> = told.into_iter().collect();
    told.sort();
    for (id, channels) in told {
        if let Some(mut d) = get(c, &id).await? {
            let before = d.channels.len();
            for ch in channels {
                if !d.channels.contains(&ch) {
                    d.channels.push(ch);
                }
            }
            if d.channels.len() != before {
                upsert(c, &d).await?;
            }
        }
    }
    out.extend(resolves);
    Ok(out)
}

/// Deletes drifts resolved before `older_than`, and their events.
pub(super) async fn prune(c: &impl GenericClient, older_than: DateTime<Utc>) -> PgResult<u64> {
    let cutoff = text(older_than);
    let events = c
        .execute(
            "DELETE FROM drift_events WHERE drift_id IN \
             (SELECT id FROM drifts WHERE status = 'resolved' AND resolved_at < $1)",
            &[&cutoff],
        )
        .await?;
    let drifts = c
        .execute(
            "DELETE FROM drifts WHERE status = 'resolved' AND resolved_at < $1",
            &[&cutoff],
        )
        .await?;
    Ok(events + drifts)
}
