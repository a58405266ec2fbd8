//! The drift lifecycle: one attribute of one resource out of line with Terraform, open until it
//! is reverted, applied, accepted, gone, reconciled or resolved by a person. Alerts are its
//! occurrences.
//!
//! Pure functions only (no I/O, no clock): the drift key and id of an alert, and [`apply`], the
//! transition from a drift (or none) and one input to the new drift, the events to record and
//! what the channels should hear. The store runs [`apply`] inside the transaction that records
//! the alert, so the drift and its cause are durable together.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

use crate::alert::{Alert, AlertKind};

mod metrics;
mod model;
pub use metrics::{ResolvedSpan, TIME_TO_RESOLVE_BUCKETS, metrics_text, time_to_resolve_text};
pub use model::*;

/// Prefix of every drift id.
pub const ID_PREFIX: &str = "drf-";

/// How many distinct actors a drift remembers (newest last).
pub const MAX_ACTORS: usize = 10;

/// The drift key: `{scope}|{resource}|{attribute}`.
#[must_use]
pub fn key(
    scope: &str,
    provider: &str,
    rtype: &str,
    id: &str,
    address: Option<&str>,
    attribute: &str,
) -> String {
    let resource = match address {
        Some(a) => a.to_string(),
        None => format!("{provider}:{rtype}:{id}"),
    };
    format!("{scope}|{resource}|{attribute}")
}

/// `drf-` + the first 24 hex chars of sha256(key): stable across restarts and replicas.
#[must_use]
pub fn id_of(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut s = String::with_capacity(28);
    s.push_str(ID_PREFIX);
    for b in &digest[..12] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Who an alert names as the actor: the person when enrichment found one, else the ARN / email
/// / principal.
#[must_use]
pub fn actor_of(a: &Alert) -> Option<String> {
    a.enrichment
        .identity
        .human
        .clone()
        .or_else(|| crate::store::actor_key(&a.actor))
}

/// The drifts an alert is an occurrence of: one per diff, or one resource-level drift.
#[must_use]
pub fn occurrences(a: &Alert, scope: &str) -> Vec<Occurrence> {
    let one = |attribute: &str, observed: Value, state_value: Value| {
        let k = key(
            scope,
            &a.provider,
            &a.resource.rtype,
            &a.resource.id,
            a.resource.address.as_deref(),
            attribute,
        );
        Occurrence {
            id: id_of(&k),
            key: k,
            kind: a.kind,
            provider: a.provider.clone(),
            rtype: a.resource.rtype.clone(),
            resource_id: a.resource.id.clone(),
            address: a.resource.address.clone(),
            attribute: attribute.to_string(),
            at: a.time,
            actor: actor_of(a),
            observed,
            state_value,
            severity: a.severity,
            rules: a.rules.clone(),
            alert_id: a.id.clone(),
        }
    };
    if a.kind != AlertKind::AttributeDrift || a.diffs.is_empty() {
        return vec![one("", Value::Null, Value::Null)];
    }
    a.diffs
        .iter()
        .map(|d| one(&d.path, d.observed.clone(), d.state.clone()))
        .collect()
}

/// Sets `drift_id` (the first) and `drift_ids` (all, when several) on the alert.
pub fn stamp(a: &mut Alert, occ: &[Occurrence]) {
    a.drift_id = occ.first().map(|o| o.id.clone());
    a.drift_ids = if occ.len() > 1 {
        occ.iter().map(|o| o.id.clone()).collect()
    } else {
        Vec::new()
    };
}

fn event(d: &Drift, at: DateTime<Utc>, kind: EventKind) -> DriftEvent {
    DriftEvent {
        id: 0,
        drift_id: d.id.clone(),
        at,
        kind,
        who: None,
        reason: None,
        note: None,
        alert_id: None,
    }
}

fn add_actor(actors: &mut Vec<String>, who: Option<&String>) {
    if let Some(w) = who {
        actors.retain(|a| a != w);
        actors.push(w.clone());
        if actors.len() > MAX_ACTORS {
            actors.remove(0);
        }
    }
}

fn occur(prev: Option<&Drift>, o: &Occurrence) -> Transition {
    let Some(p) = prev else {
        let d = Drift {
            id: o.id.clone(),
            key: o.key.clone(),
            kind: o.kind.as_str().to_string(),
            provider: o.provider.clone(),
            rtype: o.rtype.clone(),
            resource_id: o.resource_id.clone(),
            address: o.address.clone(),
            attribute: o.attribute.clone(),
            status: Status::Open,
            snoozed_until: None,
            first_seen: o.at,
            last_seen: o.at,
            occurrences: 1,
            episode: 1,
            actors: o.actor.iter().cloned().collect(),
            observed: o.observed.clone(),
            state_value: o.state_value.clone(),
            severity: o.severity,
            rules: o.rules.clone(),
            last_alert_id: o.alert_id.clone(),
            resolved_at: None,
            resolved_reason: None,
            resolved_by: None,
            updated_at: o.at,
            channels: Vec::new(),
        };
        let mut e = event(&d, o.at, EventKind::Opened);
        e.who.clone_from(&o.actor);
        e.alert_id = Some(o.alert_id.clone());
        return Transition {
            drift: d,
            events: vec![e],
            notice: Notice::Opened,
        };
    };
    let mut d = p.clone();
    d.occurrences += 1;
    d.last_seen = d.last_seen.max(o.at);
    d.updated_at = o.at;
    d.observed = o.observed.clone();
    d.state_value = o.state_value.clone();
    d.last_alert_id.clone_from(&o.alert_id);
    d.kind = o.kind.as_str().to_string();
    add_actor(&mut d.actors, o.actor.as_ref());
    for r in &o.rules {
        if !d.rules.contains(r) {
            d.rules.push(r.clone());
        }
    }
    let mut kind = EventKind::Occurred;
    let notice = if p.status == Status::Resolved {
        d.episode += 1;
        d.status = Status::Open;
        d.severity = o.severity;
        d.resolved_at = None;
        d.resolved_reason = None;
        d.resolved_by = None;
        d.snoozed_until = None;
        d.channels.clear();
        kind = EventKind::Reopened;
        Notice::Opened
    } else {
        let snooze_over = p.status == Status::Snoozed && p.snoozed_until.is_none_or(|u| u <= o.at);
        let muted = p.status == Status::Snoozed && !snooze_over;
        if snooze_over {
            d.status = Status::Open;
            d.snoozed_until = None;
        }
        let raised = o.severity > p.severity;
        if raised {
            d.severity = o.severity;
            kind = EventKind::SeverityRaised;
        }
        if muted || !(raised || snooze_over) {
            Notice::Quiet
        } else {
            Notice::Updated
        }
    };
    let mut e = event(&d, o.at, kind);
    e.who.clone_from(&o.actor);
    e.alert_id = Some(o.alert_id.clone());
    Transition {
        drift: d,
        events: vec![e],
        notice,
    }
}

/// The transition function: the drift after `input` (`prev` is `None` for a drift never seen),
/// the events to record and what channels hear. `None` when the input changes nothing (a
/// resolution, ack or snooze of a drift that is unknown or already resolved).
#[must_use]
pub fn apply(prev: Option<&Drift>, input: &Input<'_>) -> Option<Transition> {
    match *input {
        Input::Occur(o) => Some(occur(prev, o)),
        Input::Resolve {
            reason,
            who,
            at,
            note,
        } => {
            let p = prev.filter(|p| p.is_unresolved())?;
            let mut d = p.clone();
            d.status = Status::Resolved;
            d.snoozed_until = None;
            d.resolved_at = Some(at);
            d.resolved_reason = Some(reason);
            d.resolved_by = who.map(str::to_string);
            d.updated_at = at;
            let mut e = event(&d, at, EventKind::Resolved);
            e.who.clone_from(&d.resolved_by);
            e.reason = Some(reason);
            e.note = note.map(str::to_string);
            Some(Transition {
                drift: d,
                events: vec![e],
                notice: Notice::Resolved,
            })
        }
        Input::Ack { who, at } => {
            let p = prev.filter(|p| p.is_unresolved())?;
            let mut d = p.clone();
            d.status = Status::Acknowledged;
            d.snoozed_until = None;
            d.updated_at = at;
            let mut e = event(&d, at, EventKind::Acknowledged);
            e.who = Some(who.to_string());
            Some(Transition {
                drift: d,
                events: vec![e],
                notice: Notice::Quiet,
            })
        }
        Input::Snooze { who, until, at } => {
            let p = prev.filter(|p| p.is_unresolved())?;
            let mut d = p.clone();
            d.status = Status::Snoozed;
            d.snoozed_until = Some(until);
            d.updated_at = at;
            let mut e = event(&d, at, EventKind::Snoozed);
            e.who = Some(who.to_string());
            e.note = Some(format!("until {}", until.to_rfc3339()));
            Some(Transition {
                drift: d,
                events: vec![e],
                notice: Notice::Quiet,
            })
        }
    }
}

#[cfg(test)]
mod tests;
