//! Drifts on SQLite: the `drifts` and `drift_events` tables (migration 3). Occurrences and
//! resolutions are applied with [`crate::drift::apply`] inside the caller's transaction — the
//! alert's group commit, or a person's action — so a drift never disagrees with the alerts and
//! notifications that caused it, whatever crashes when.
//!
//! Notifications follow the drift: an alert's outbox items are kept only when one of its drifts
//! opened (or reopened), rose in severity or came out of a snooze, and they carry a `drift` note;
//! the channels that were told are remembered on the drift and each gets a `resolve` item with
//! the drift's reason when it ends. Issue-tracker channels also get quiet occurrences the router
//! flagged (`$.occurrences`, at most one per drift per interval), as `drift.occurred`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use super::OutboxItem;
use crate::alert::Severity;
use crate::drift::{
    Drift, DriftEvent, DriftNote, DriftOp, EventKind, Input, Notice, Reason, Resolution,
    ResolvedSpan, Status, Target, Transition, apply,
};

const COLUMNS: &str = "id, key, kind, provider, rtype, resource_id, address, attribute, status, \
    snoozed_until, first_seen, last_seen, occurrences, episode, actors, observed, state_value, \
    severity, rules, last_alert_id, resolved_at, resolved_reason, resolved_by, updated_at, channels";

/// Which drifts [`list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftFilter {
    /// Only unresolved ones (open, acknowledged, snoozed); else every status.
    pub unresolved_only: bool,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// At most this many (0: no limit).
    pub limit: usize,
}

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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Drift> {
    let status: String = r.get(8)?;
    let severity: String = r.get(17)?;
    let reason: Option<String> = r.get(21)?;
    Ok(Drift {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: r.get(2)?,
        provider: r.get(3)?,
        rtype: r.get(4)?,
        resource_id: r.get(5)?,
        address: r.get(6)?,
        attribute: r.get(7)?,
        // The CHECK constraints keep other values out.
        status: Status::parse(&status).unwrap_or(Status::Open),
        snoozed_until: r.get::<_, Option<String>>(9)?.as_deref().map(time),
        first_seen: time(&r.get::<_, String>(10)?),
        last_seen: time(&r.get::<_, String>(11)?),
        occurrences: r.get::<_, i64>(12)?.try_into().unwrap_or(0),
        episode: r.get::<_, i64>(13)?.try_into().unwrap_or(1),
        actors: json_col(&r.get::<_, String>(14)?),
        observed: json_col(&r.get::<_, String>(15)?),
        state_value: json_col(&r.get::<_, String>(16)?),
        severity: Severity::parse(&severity).unwrap_or_default(),
        rules: json_col(&r.get::<_, String>(18)?),
        last_alert_id: r.get(19)?,
        resolved_at: r.get::<_, Option<String>>(20)?.as_deref().map(time),
        resolved_reason: reason.as_deref().and_then(Reason::parse),
        resolved_by: r.get(22)?,
        updated_at: time(&r.get::<_, String>(23)?),
        channels: json_col(&r.get::<_, String>(24)?),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn upsert(tx: &Transaction<'_>, d: &Drift) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO drifts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
    ))?;
    st.execute(params![
        d.id,
        d.key,
        d.kind,
        d.provider,
        d.rtype,
        d.resource_id,
        d.address,
        d.attribute,
        d.status.as_str(),
        d.snoozed_until.map(text),
        text(d.first_seen),
        text(d.last_seen),
        i64::try_from(d.occurrences).unwrap_or(i64::MAX),
        i64::from(d.episode),
        to_json(&d.actors),
        to_json(&d.observed),
        to_json(&d.state_value),
        d.severity.as_str(),
        to_json(&d.rules),
        d.last_alert_id,
        d.resolved_at.map(text),
        d.resolved_reason.map(Reason::as_str),
        d.resolved_by,
        text(d.updated_at),
        to_json(&d.channels),
    ])?;
    Ok(())
}

fn insert_events(tx: &Transaction<'_>, events: &[DriftEvent]) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO drift_events (drift_id, at, kind, who, reason, note, alert_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in events {
        st.execute(params![
            e.drift_id,
            text(e.at),
            e.kind.as_str(),
            e.who,
            e.reason.map(Reason::as_str),
            e.note,
            e.alert_id
        ])?;
    }
    Ok(())
}

/// One drift by id.
pub(super) fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Drift>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM drifts WHERE id = ?1"))?
        .query_row([id], row)
        .optional()
}

/// Drifts by filter: unresolved first, then most severe, then newest.
pub(super) fn list(conn: &Connection, f: &DriftFilter) -> rusqlite::Result<Vec<Drift>> {
    let which = if f.unresolved_only {
        "WHERE status != 'resolved'"
    } else {
        ""
    };
    let mut out: Vec<Drift> = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM drifts {which}"))?
        .query_map([], row)
        .and_then(Iterator::collect)?;
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

const EVENT_COLS: &str = "id, drift_id, at, kind, who, reason, note, alert_id";

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DriftEvent> {
    let kind: String = r.get(3)?;
    let reason: Option<String> = r.get(5)?;
    Ok(DriftEvent {
        id: r.get(0)?,
        drift_id: r.get(1)?,
        at: time(&r.get::<_, String>(2)?),
        kind: EventKind::parse(&kind).unwrap_or(EventKind::Occurred),
        who: r.get(4)?,
        reason: reason.as_deref().and_then(Reason::parse),
        note: r.get(6)?,
        alert_id: r.get(7)?,
    })
}

/// The events of a drift, oldest first.
pub(super) fn events(conn: &Connection, id: &str) -> rusqlite::Result<Vec<DriftEvent>> {
    conn.prepare_cached(&format!(
        "SELECT {EVENT_COLS} FROM drift_events WHERE drift_id = ?1 ORDER BY id"
    ))?
    .query_map([id], event_row)
    .and_then(Iterator::collect)
}

/// One drift event by its row id (what the team-mode journal names) with its drift as it is
/// now; `None` when either was pruned.
pub(super) fn event_with_drift(
    conn: &Connection,
    event_id: i64,
) -> rusqlite::Result<Option<(DriftEvent, Drift)>> {
    let Some(ev) = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLS} FROM drift_events WHERE id = ?1"
        ))?
        .query_row([event_id], event_row)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(get(conn, &ev.drift_id)?.map(|d| (ev, d)))
}

/// The unresolved drifts a resolution targets.
fn targets(tx: &Transaction<'_>, t: &Target) -> rusqlite::Result<Vec<Drift>> {
    match t {
        Target::Id(id) => Ok(get(tx, id)?
            .into_iter()
            .filter(Drift::is_unresolved)
            .collect()),
        Target::Resource(sel) => {
            let found: Vec<Drift> = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM drifts WHERE status != 'resolved' AND \
                     ((?1 IS NOT NULL AND address = ?1) OR (rtype = ?2 AND resource_id = ?3))"
                ))?
                .query_map(params![sel.address, sel.rtype, sel.resource_id], row)
                .and_then(Iterator::collect)?;
            Ok(found.into_iter().filter(|d| sel.selects(d)).collect())
        }
    }
}

/// `resolve` outbox items for every channel told about the drift's episode: the envelope of
/// the notifier (`{"type": "resolve", "alert": …}`) with the drift note.
fn resolve_items(tx: &Transaction<'_>, d: &Drift) -> rusqlite::Result<Vec<OutboxItem>> {
    if d.channels.is_empty() {
        return Ok(Vec::new());
    }
    let alert: Option<String> = tx
        .prepare_cached("SELECT json FROM alerts WHERE id = ?1")?
        .query_row([&d.last_alert_id], |r| r.get(0))
        .optional()?;
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
        .map(|c| OutboxItem {
            channel: c.clone(),
            alert_id: d.last_alert_id.clone(),
            payload: payload.clone(),
        })
        .collect())
}

/// Applies one resolution; returns the drifts it resolved and their `resolve` items.
pub(super) fn resolve(
    tx: &Transaction<'_>,
    r: &Resolution,
    out: &mut Vec<OutboxItem>,
) -> rusqlite::Result<Vec<Drift>> {
    let mut done = Vec::new();
    // CloudTrail delivers out of order (and backfills replay old logs): a change older than
    // the drift's latest occurrence does not end it.
    for d in targets(tx, &r.target)?
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
            write(tx, &t)?;
            out.extend(resolve_items(tx, &t.drift)?);
            done.push(t.drift);
        }
    }
    Ok(done)
}

fn write(tx: &Transaction<'_>, t: &Transition) -> rusqlite::Result<()> {
    upsert(tx, &t.drift)?;
    insert_events(tx, &t.events)
}

/// A person's action on one drift (ack, snooze, resolve); `None` when the drift is unknown or
/// already resolved.
pub(super) fn act(
    tx: &Transaction<'_>,
    id: &str,
    input: &Input<'_>,
    out: &mut Vec<OutboxItem>,
) -> rusqlite::Result<Option<Drift>> {
    let Some(prev) = get(tx, id)? else {
        return Ok(None);
    };
    let Some(t) = apply(Some(&prev), input) else {
        return Ok(None);
    };
    write(tx, &t)?;
    if t.notice == Notice::Resolved {
        out.extend(resolve_items(tx, &t.drift)?);
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

/// The `drift.occurred` note of a quiet occurrence, for an item the router flagged
/// (`$.occurrences`: an issue-tracker channel comments it); `None` otherwise or while snoozed.
fn occurrence_note(payload: &str, drifts: &[Drift]) -> Option<DriftNote> {
    let flagged = serde_json::from_str::<Value>(payload)
        .ok()
        .is_some_and(|v| v["occurrences"] == Value::Bool(true));
    if !flagged {
        return None;
    }
    let d = drifts
        .iter()
        .find(|d| d.status == Status::Open || d.status == Status::Acknowledged)?;
    let mut note = DriftNote::new(d, Notice::Quiet);
    note.event = "drift.occurred".to_string();
    Some(note)
}

/// Applies an event's drift operations in its transaction and decides its notifications:
/// returns the outbox items to enqueue (the alerts' items that still notify, stamped with the
/// drift note, then `resolve` items). Occurrences of alerts not in `inserted` (already stored)
/// are skipped. Without drift operations `outbox` is returned as it is.
pub(super) fn apply_ops(
    tx: &Transaction<'_>,
    ops: &[DriftOp],
    inserted: &HashSet<&str>,
    outbox: &[OutboxItem],
) -> rusqlite::Result<Vec<OutboxItem>> {
    if ops.is_empty() {
        return Ok(outbox.to_vec());
    }
    // Alert id → (its drifts after the occurrence, the note of the first one that notifies).
    let mut per_alert: HashMap<&str, (Vec<Drift>, Option<DriftNote>)> = HashMap::new();
    let mut resolves = Vec::new();
    for op in ops {
        match op {
            DriftOp::Occur(o) => {
                if !inserted.contains(o.alert_id.as_str()) {
                    continue;
                }
                let prev = get(tx, &o.id)?;
                let Some(t) = apply(prev.as_ref(), &Input::Occur(o)) else {
                    continue;
                };
                write(tx, &t)?;
                let entry = per_alert.entry(o.alert_id.as_str()).or_default();
                if entry.1.is_none() && t.notice != Notice::Quiet {
                    entry.1 = Some(DriftNote::new(&t.drift, t.notice));
                }
                entry.0.push(t.drift);
            }
            DriftOp::Resolve(r) => {
                resolve(tx, r, &mut resolves)?;
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
            // An occurrence the drift's channels already know about is quiet; a channel that
            // was never told (a rule reload routed it there since) hears it once, unless the
            // drift is snoozed.
            drifts
                .iter()
                .find(|d| d.status != Status::Snoozed && !d.channels.contains(&item.channel))
                .map(|d| DriftNote::new(d, Notice::Opened))
        });
        // Issue trackers comment occurrences (the router flags them, at most one per drift
        // per interval): `drift.occurred`.
        let note = note.or_else(|| occurrence_note(&item.payload, drifts));
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
    for (id, channels) in told {
        if let Some(mut d) = get(tx, &id)? {
            let before = d.channels.len();
            for c in channels {
                if !d.channels.contains(&c) {
                    d.channels.push(c);
                }
            }
            if d.channels.len() != before {
                upsert(tx, &d)?;
            }
        }
    }
    out.extend(resolves);
    Ok(out)
}

/// Every resolved episode still stored: the drift's severity, the reason, and the time from
/// the episode's opening (or reopening) event to its resolution.
pub(super) fn resolved_spans(conn: &Connection) -> rusqlite::Result<Vec<ResolvedSpan>> {
    let mut st = conn.prepare_cached(
        "SELECT d.severity, r.reason, r.at, \
           (SELECT o.at FROM drift_events o WHERE o.drift_id = r.drift_id \
              AND o.kind IN ('opened', 'reopened') AND o.id < r.id ORDER BY o.id DESC LIMIT 1) \
         FROM drift_events r JOIN drifts d ON d.id = r.drift_id \
         WHERE r.kind = 'resolved' AND r.reason IS NOT NULL",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (sev, reason, at, opened) = row?;
        let (Some(reason), Some(opened)) = (Reason::parse(&reason), opened) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let seconds = (time(&at) - time(&opened)).num_milliseconds().max(0) as f64 / 1000.0;
        out.push(ResolvedSpan {
            severity: Severity::parse(&sev).unwrap_or_default(),
            reason,
            seconds,
        });
    }
    Ok(out)
}

/// Deletes drifts resolved before `older_than`, and their events.
pub(super) fn prune(tx: &Transaction<'_>, older_than: DateTime<Utc>) -> rusqlite::Result<usize> {
    let cutoff = text(older_than);
    let events = tx.execute(
        "DELETE FROM drift_events WHERE drift_id IN \
         (SELECT id FROM drifts WHERE status = 'resolved' AND resolved_at < ?1)",
        [&cutoff],
    )?;
    let drifts = tx.execute(
        "DELETE FROM drifts WHERE status = 'resolved' AND resolved_at < ?1",
        [&cutoff],
    )?;
    Ok(events + drifts)
}
