//! Store and pipeline values → their `tfdrift.v1` messages (and back for the few the client
//! needs). Times travel as RFC 3339 strings, empty when absent.

use chrono::{DateTime, SecondsFormat, Utc};

use super::proto;
use crate::collect::health::SourceHealth;
use crate::pipeline::Stats;
use crate::store::Target;
use crate::store::journal::{AckRow, AlertRow, SnoozeRow, State, StatusView};

/// RFC 3339 with milliseconds.
#[must_use]
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

/// Parses an RFC 3339 time field (empty = `None`).
pub fn parse_time(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            format!("{field} '{s}' is not an RFC 3339 time ({e}); write it as 2026-01-02T15:04:05Z")
        })
}

/// [`State`] → the enum.
#[must_use]
pub fn state(s: State) -> proto::AlertState {
    match s {
        State::New => proto::AlertState::New,
        State::Acknowledged => proto::AlertState::Acknowledged,
        State::Snoozed => proto::AlertState::Snoozed,
        State::Resolved => proto::AlertState::Resolved,
    }
}

/// The enum → its lower-case name (`new` … `resolved`).
#[must_use]
pub fn state_name(s: i32) -> &'static str {
    match proto::AlertState::try_from(s).unwrap_or(proto::AlertState::Unspecified) {
        proto::AlertState::New => "new",
        proto::AlertState::Acknowledged => "acknowledged",
        proto::AlertState::Snoozed => "snoozed",
        proto::AlertState::Resolved => "resolved",
        proto::AlertState::Unspecified => "unknown",
    }
}

/// A status.
#[must_use]
pub fn status(s: &StatusView) -> proto::AlertStatus {
    proto::AlertStatus {
        state: state(s.state).into(),
        who: s.who.clone(),
        at: opt_time(s.at),
        note: s.note.clone().unwrap_or_default(),
        snoozed_until: opt_time(s.until),
    }
}

/// A stored alert.
#[must_use]
pub fn alert(a: &AlertRow) -> proto::Alert {
    proto::Alert {
        id: a.id.clone(),
        json: a.json.clone(),
        status: Some(status(&a.status)),
    }
}

fn target(t: &Target) -> (String, String) {
    match t {
        Target::Alert(a) => (a.clone(), String::new()),
        Target::Fingerprint(f) => (String::new(), f.clone()),
    }
}

/// An acknowledgement as the status change it makes.
#[must_use]
pub fn ack_change(a: &AckRow) -> proto::StatusChange {
    let (alert_id, fingerprint) = target(&a.target);
    proto::StatusChange {
        alert_id,
        fingerprint,
        status: Some(proto::AlertStatus {
            state: state(State::of_marker(a.marker.as_deref())).into(),
            who: a.who.clone(),
            at: time(a.at),
            note: a.comment.clone().unwrap_or_default(),
            snoozed_until: String::new(),
        }),
    }
}

/// A snooze as the status change it makes.
#[must_use]
pub fn snooze_change(s: &SnoozeRow) -> proto::StatusChange {
    let (alert_id, fingerprint) = target(&s.target);
    proto::StatusChange {
        alert_id,
        fingerprint,
        status: Some(proto::AlertStatus {
            state: proto::AlertState::Snoozed.into(),
            who: s.who.clone(),
            at: time(s.at),
            note: s.note.clone().unwrap_or_default(),
            snoozed_until: time(s.until),
        }),
    }
}

/// An acknowledgement row for `GetAlert`.
#[must_use]
pub fn ack(a: &AckRow) -> proto::Ack {
    proto::Ack {
        who: a.who.clone(),
        at: time(a.at),
        action: a.marker.clone().unwrap_or_default(),
        note: a.comment.clone().unwrap_or_default(),
    }
}

/// A source's health.
#[must_use]
pub fn health(name: &str, h: &SourceHealth) -> proto::SourceHealth {
    proto::SourceHealth {
        name: name.to_string(),
        kind: h.kind.clone(),
        connected: h.connected,
        last_event: opt_time(h.last_event),
        lag_ms: h.lag_ms.unwrap_or_default(),
        events: h.events,
        errors: h.errors,
        last_error: h.last_error.clone().unwrap_or_default(),
    }
}

/// Counters and health.
#[must_use]
pub fn stats(s: &Stats) -> proto::Stats {
    proto::Stats {
        sources: s.sources.iter().map(|(n, h)| health(n, h)).collect(),
        stats_json: serde_json::to_string(s).unwrap_or_default(),
    }
}

/// A drift as the API shows it (times RFC 3339, values as JSON text).
#[must_use]
pub fn drift(d: &crate::drift::Drift) -> proto::Drift {
    proto::Drift {
        id: d.id.clone(),
        key: d.key.clone(),
        kind: d.kind.clone(),
        provider: d.provider.clone(),
        r#type: d.rtype.clone(),
        resource_id: d.resource_id.clone(),
        address: d.address.clone().unwrap_or_default(),
        attribute: d.attribute.clone(),
        status: d.status.as_str().to_string(),
        snoozed_until: opt_time(d.snoozed_until),
        first_seen: time(d.first_seen),
        last_seen: time(d.last_seen),
        occurrences: d.occurrences,
        episode: u64::from(d.episode),
        actors: d.actors.clone(),
        observed_json: d.observed.to_string(),
        state_json: d.state_value.to_string(),
        severity: d.severity.as_str().to_string(),
        rules: d.rules.clone(),
        last_alert_id: d.last_alert_id.clone(),
        resolved_at: opt_time(d.resolved_at),
        resolved_reason: d
            .resolved_reason
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        resolved_by: d.resolved_by.clone().unwrap_or_default(),
    }
}

/// One thing that happened to a drift, with the drift as it is now.
#[must_use]
pub fn drift_change(ev: &crate::drift::DriftEvent, d: &crate::drift::Drift) -> proto::DriftChange {
    proto::DriftChange {
        kind: ev.kind.as_str().to_string(),
        at: time(ev.at),
        who: ev.who.clone().unwrap_or_default(),
        reason: ev
            .reason
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        note: ev.note.clone().unwrap_or_default(),
        alert_id: ev.alert_id.clone().unwrap_or_default(),
        drift: Some(drift(d)),
    }
}

/// An API drift back into the model (the monitor's drift list); `Err` names the bad field.
pub fn drift_from(d: &proto::Drift) -> Result<crate::drift::Drift, String> {
    use crate::drift::{Reason, Status as DriftStatus};
    let json = |field: &str, s: &str| -> Result<serde_json::Value, String> {
        if s.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(s).map_err(|e| format!("drift {}: {field} is not JSON: {e}", d.id))
    };
    let at =
        |field: &str, s: &str| parse_time(field, s).map_err(|e| format!("drift {}: {e}", d.id));
    let first_seen = at("first_seen", &d.first_seen)?.unwrap_or_default();
    let last_seen = at("last_seen", &d.last_seen)?.unwrap_or(first_seen);
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(crate::drift::Drift {
        id: d.id.clone(),
        key: d.key.clone(),
        kind: d.kind.clone(),
        provider: d.provider.clone(),
        rtype: d.r#type.clone(),
        resource_id: d.resource_id.clone(),
        address: nonempty(&d.address),
        attribute: d.attribute.clone(),
        status: DriftStatus::parse(&d.status)
            .ok_or_else(|| format!("drift {}: status '{}' is unknown", d.id, d.status))?,
        snoozed_until: at("snoozed_until", &d.snoozed_until)?,
        first_seen,
        last_seen,
        occurrences: d.occurrences,
        episode: u32::try_from(d.episode).unwrap_or(u32::MAX),
        actors: d.actors.clone(),
        observed: json("observed_json", &d.observed_json)?,
        state_value: json("state_json", &d.state_json)?,
        severity: crate::alert::Severity::parse(&d.severity).unwrap_or_default(),
        rules: d.rules.clone(),
        last_alert_id: d.last_alert_id.clone(),
        resolved_at: at("resolved_at", &d.resolved_at)?,
        resolved_reason: Reason::parse(&d.resolved_reason),
        resolved_by: nonempty(&d.resolved_by),
        updated_at: last_seen,
        channels: Vec::new(),
    })
}

/// The pipeline counters a snapshot or a stats item carries (`stats_json`), with the sources'
/// health; `Err` when the JSON is not a `Stats` object.
pub fn stats_from(stats_json: &str) -> Result<Stats, String> {
    if stats_json.is_empty() {
        return Ok(Stats::default());
    }
    serde_json::from_str(stats_json).map_err(|e| format!("the daemon's stats_json: {e}"))
}
