//! The drift lifecycle: one attribute of one resource out of line with Terraform, open until it
//! is reverted, applied, accepted, gone, reconciled or resolved by a person. Alerts are its
//! occurrences.
//!
//! Pure functions only (no I/O, no clock): the drift key and id of an alert, and [`apply`], the
//! transition from a drift (or none) and one input to the new drift, the events to record and
//! what the channels should hear. The store runs [`apply`] inside the transaction that records
//! the alert, so the drift and its cause are durable together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

use crate::alert::{Alert, AlertKind, Severity};

/// Prefix of every drift id.
pub const ID_PREFIX: &str = "drf-";

/// How many distinct actors a drift remembers (newest last).
pub const MAX_ACTORS: usize = 10;

/// A drift's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Out of line, nobody has handled it.
    Open,
    /// A person has seen it.
    Acknowledged,
    /// Muted until `snoozed_until`.
    Snoozed,
    /// Back in line (see [`Reason`]).
    Resolved,
}

impl Status {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Snoozed => "snoozed",
            Status::Resolved => "resolved",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Status::Open,
            "acknowledged" => Status::Acknowledged,
            "snoozed" => Status::Snoozed,
            "resolved" => Status::Resolved,
            _ => return None,
        })
    }
}

/// How a drift ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// A later event set the attribute back to the state value.
    Reverted,
    /// Terraform changed the resource (and the refreshed state agrees), or deleted it.
    Applied,
    /// A refreshed state now holds the observed value.
    Accepted,
    /// The resource was deleted and left the state, or stopped being managed.
    Gone,
    /// A scheduled reconcile confirmed it in sync.
    Reconciled,
    /// A person resolved it.
    Manual,
}

impl Reason {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Reverted => "reverted",
            Reason::Applied => "applied",
            Reason::Accepted => "accepted",
            Reason::Gone => "gone",
            Reason::Reconciled => "reconciled",
            Reason::Manual => "manual",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reverted" => Reason::Reverted,
            "applied" => Reason::Applied,
            "accepted" => Reason::Accepted,
            "gone" => Reason::Gone,
            "reconciled" => Reason::Reconciled,
            "manual" => Reason::Manual,
            _ => return None,
        })
    }
}

/// What happened to a drift (one `drift_events` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// First seen.
    Opened,
    /// Seen again while unresolved.
    Occurred,
    /// Seen again with a higher severity.
    SeverityRaised,
    /// A person acknowledged it.
    Acknowledged,
    /// A person snoozed it.
    Snoozed,
    /// It ended (`reason` says how).
    Resolved,
    /// Seen again after it was resolved: a new episode.
    Reopened,
}

impl EventKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Occurred => "occurred",
            EventKind::SeverityRaised => "severity_raised",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Snoozed => "snoozed",
            EventKind::Resolved => "resolved",
            EventKind::Reopened => "reopened",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "opened" => EventKind::Opened,
            "occurred" => EventKind::Occurred,
            "severity_raised" => EventKind::SeverityRaised,
            "acknowledged" => EventKind::Acknowledged,
            "snoozed" => EventKind::Snoozed,
            "resolved" => EventKind::Resolved,
            "reopened" => EventKind::Reopened,
            _ => return None,
        })
    }
}

/// A drift as the store keeps it (one `drifts` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// `drf-` + 24 hex chars of sha256(key).
    pub id: String,
    /// `{scope}|{resource}|{attribute}`.
    pub key: String,
    /// Alert kind of its occurrences (`attribute_drift` …).
    pub kind: String,
    /// `aws` or `gcp`.
    pub provider: String,
    /// Terraform type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Cloud id.
    pub resource_id: String,
    /// Terraform address when managed.
    pub address: Option<String>,
    /// Attribute path; empty for resource-level drifts.
    pub attribute: String,
    /// Status.
    pub status: Status,
    /// While snoozed: until when.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// First occurrence (of the first episode).
    pub first_seen: DateTime<Utc>,
    /// Latest occurrence.
    pub last_seen: DateTime<Utc>,
    /// Occurrences over all episodes.
    pub occurrences: u64,
    /// 1, plus one for each reopening.
    pub episode: u32,
    /// Distinct actors, newest last, at most [`MAX_ACTORS`].
    pub actors: Vec<String>,
    /// The value last observed (masked as the alert was).
    pub observed: Value,
    /// The value Terraform state holds.
    pub state_value: Value,
    /// Highest severity seen this episode.
    pub severity: Severity,
    /// Rules that matched (union).
    pub rules: Vec<String>,
    /// The alert of the latest occurrence.
    pub last_alert_id: String,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How.
    pub resolved_reason: Option<Reason>,
    /// By whom (a person, or the actor of the reverting / applying change).
    pub resolved_by: Option<String>,
    /// Last change to this row.
    pub updated_at: DateTime<Utc>,
    /// Channels told about the current episode (they are told when it ends).
    #[serde(default)]
    pub channels: Vec<String>,
}

impl Drift {
    /// Whether it still needs resolving (open, acknowledged or snoozed).
    #[must_use]
    pub fn is_unresolved(&self) -> bool {
        self.status != Status::Resolved
    }
}

/// One `drift_events` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftEvent {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// The drift.
    pub drift_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: EventKind,
    /// Who (actor of an occurrence, person of an ack / resolve).
    pub who: Option<String>,
    /// Resolution reason.
    pub reason: Option<Reason>,
    /// Free text.
    pub note: Option<String>,
    /// The alert that caused it.
    pub alert_id: Option<String>,
}

/// One drift's share of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Drift key.
    pub key: String,
    /// Drift id.
    pub id: String,
    /// Alert kind.
    pub kind: AlertKind,
    /// Provider.
    pub provider: String,
    /// Terraform type.
    pub rtype: String,
    /// Cloud id.
    pub resource_id: String,
    /// Address when managed.
    pub address: Option<String>,
    /// Attribute path ("" for resource-level).
    pub attribute: String,
    /// Event time.
    pub at: DateTime<Utc>,
    /// Who made the change.
    pub actor: Option<String>,
    /// Observed value.
    pub observed: Value,
    /// State value.
    pub state_value: Value,
    /// Alert severity.
    pub severity: Severity,
    /// Matching rules.
    pub rules: Vec<String>,
    /// The alert.
    pub alert_id: String,
}

/// Which unresolved drifts a resolution applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// One drift.
    Id(String),
    /// The drifts of one resource.
    Resource(Selector),
}

/// The drifts of one resource, optionally narrowed to attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Selector {
    /// Address (managed resources are matched by it).
    pub address: Option<String>,
    /// Terraform type.
    pub rtype: String,
    /// Cloud id (matched when there is no address).
    pub resource_id: String,
    /// Attribute paths covered (a drift on `tags.Env` is under `tags`); `None`: every drift of
    /// the resource, resource-level ones included.
    pub attributes: Option<Vec<String>>,
    /// Attribute paths still differing: never resolved by this selector.
    pub keep: Vec<String>,
}

impl Selector {
    /// Whether `d` is one of the selected drifts.
    #[must_use]
    pub fn selects(&self, d: &Drift) -> bool {
        let same = match (&self.address, &d.address) {
            (Some(a), Some(b)) => a == b,
            _ => self.rtype == d.rtype && self.resource_id == d.resource_id,
        };
        if !same || self.keep.contains(&d.attribute) {
            return false;
        }
        match &self.attributes {
            None => true,
            // A change that went through means the resource exists again: its deletion drift
            // is over.
            Some(_) if d.kind == AlertKind::ManagedResourceDeleted.as_str() => true,
            Some(paths) => {
                !d.attribute.is_empty()
                    && paths.iter().any(|p| {
                        d.attribute == *p
                            || d.attribute
                                .strip_prefix(p.as_str())
                                .is_some_and(|r| r.starts_with('.'))
                    })
            }
        }
    }
}

/// A resolution to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// Which drifts.
    pub target: Target,
    /// Why.
    pub reason: Reason,
    /// Who (the reverting actor, Terraform's identity, a person).
    pub who: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Free text (what was seen).
    pub note: Option<String>,
}

/// What the engine asks the store to do to drifts, in the transaction of the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DriftOp {
    /// An alert's drift occurred.
    Occur(Box<Occurrence>),
    /// Drifts ended.
    Resolve(Resolution),
}

/// One input to [`apply`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// Seen (again).
    Occur(&'a Occurrence),
    /// Ended.
    Resolve {
        /// Why.
        reason: Reason,
        /// By whom.
        who: Option<&'a str>,
        /// When.
        at: DateTime<Utc>,
        /// Free text.
        note: Option<&'a str>,
    },
    /// A person acknowledged it.
    Ack {
        /// Who.
        who: &'a str,
        /// When.
        at: DateTime<Utc>,
    },
    /// A person muted it.
    Snooze {
        /// Who.
        who: &'a str,
        /// Until.
        until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What channels should hear about a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// Nothing (an occurrence of a drift already told about).
    Quiet,
    /// A new drift or a new episode.
    Opened,
    /// Severity rose, or a snooze ended.
    Updated,
    /// It ended.
    Resolved,
}

impl Notice {
    /// The webhook `event` name.
    #[must_use]
    pub fn event(self) -> Option<&'static str> {
        match self {
            Notice::Quiet => None,
            Notice::Opened => Some("drift.opened"),
            Notice::Updated => Some("drift.updated"),
            Notice::Resolved => Some("drift.resolved"),
        }
    }
}

/// The result of [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The drift after the input.
    pub drift: Drift,
    /// Events to record.
    pub events: Vec<DriftEvent>,
    /// What channels hear.
    pub notice: Notice,
}

/// What a notification payload says about the drift (`drift` in outbox payloads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftNote {
    /// `drift.opened`, `drift.updated` or `drift.resolved`.
    pub event: String,
    /// Drift id.
    pub id: String,
    /// Episode.
    pub episode: u32,
    /// Occurrences so far.
    pub occurrences: u64,
    /// Attribute path.
    pub attribute: String,
    /// Open since.
    pub first_seen: DateTime<Utc>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// By whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

impl DriftNote {
    /// The note for a drift and a notice.
    #[must_use]
    pub fn new(d: &Drift, notice: Notice) -> Self {
        DriftNote {
            event: notice.event().unwrap_or("drift.updated").to_string(),
            id: d.id.clone(),
            episode: d.episode,
            occurrences: d.occurrences,
            attribute: d.attribute.clone(),
            first_seen: d.first_seen,
            reason: d.resolved_reason,
            resolved_by: d.resolved_by.clone(),
        }
    }

    /// One line for messages: `resolved (reverted by alice)`.
    #[must_use]
    pub fn resolution_line(&self) -> String {
        let reason = self.reason.map_or("resolved", Reason::as_str);
        match &self.resolved_by {
            Some(who) => format!("resolved: {reason} by {who}"),
            None => format!("resolved: {reason}"),
        }
    }
}

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

/// Prometheus text for `/metrics` from the stored drifts: unresolved drifts by severity, the
/// age of the oldest one, episodes opened, and drifts resolved by reason (their latest
/// episode's reason).
#[must_use]
pub fn metrics_text(drifts: &[Drift], now: DateTime<Utc>) -> String {
    use std::collections::BTreeMap;
    let mut open: BTreeMap<&str, u64> = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]
    .into_iter()
    .map(|s| (s.as_str(), 0))
    .collect();
    let mut resolved: BTreeMap<&str, u64> = BTreeMap::new();
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut opened = 0u64;
    for d in drifts {
        opened += u64::from(d.episode);
        if d.is_unresolved() {
            *open.entry(d.severity.as_str()).or_default() += 1;
            oldest = Some(oldest.map_or(d.first_seen, |o| o.min(d.first_seen)));
        } else if let Some(r) = d.resolved_reason {
            *resolved.entry(r.as_str()).or_default() += 1;
        }
    }
    let mut out = String::from(
        "# HELP tfdrift_drifts_open Unresolved drifts (open, acknowledged, snoozed) by severity.\n# TYPE tfdrift_drifts_open gauge\n",
    );
    for (s, n) in &open {
        let _ = writeln!(out, "tfdrift_drifts_open{{severity=\"{s}\"}} {n}");
    }
    let age = oldest.map_or(0, |o| (now - o).num_seconds().max(0));
    let _ = writeln!(
        out,
        "# HELP tfdrift_drift_oldest_open_seconds Age of the oldest unresolved drift (0: none).\n# TYPE tfdrift_drift_oldest_open_seconds gauge\ntfdrift_drift_oldest_open_seconds {age}"
    );
    let _ = writeln!(
        out,
        "# HELP tfdrift_drifts_opened_total Drift episodes opened (first occurrences and reopenings).\n# TYPE tfdrift_drifts_opened_total counter\ntfdrift_drifts_opened_total {opened}"
    );
    out.push_str("# HELP tfdrift_drifts_resolved_total Resolved drifts by how they ended.\n# TYPE tfdrift_drifts_resolved_total counter\n");
    for (r, n) in &resolved {
        let _ = writeln!(out, "tfdrift_drifts_resolved_total{{reason=\"{r}\"}} {n}");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap()
    }

    fn occ(min: i64, sev: Severity, who: &str) -> Occurrence {
        let k = key(
            "",
            "aws",
            "aws_security_group",
            "sg-1",
            Some("aws_security_group.web"),
            "ingress",
        );
        Occurrence {
            id: id_of(&k),
            key: k,
            kind: AlertKind::AttributeDrift,
            provider: "aws".into(),
            rtype: "aws_security_group".into(),
            resource_id: "sg-1".into(),
            address: Some("aws_security_group.web".into()),
            attribute: "ingress".into(),
            at: t(min),
            actor: Some(who.into()),
            observed: json!(["22"]),
            state_value: json!(["443"]),
            severity: sev,
            rules: vec![format!("r-{min}")],
            alert_id: format!("tfd-{min}"),
        }
    }

    #[test]
    fn key_and_id_are_stable_and_distinguish_attributes() {
        let k = key("", "aws", "aws_s3_bucket", "b", None, "tags.Env");
        assert_eq!(k, "|aws:aws_s3_bucket:b|tags.Env");
        assert_eq!(
            key("prod.tfstate", "aws", "t", "i", Some("aws_s3_bucket.b"), ""),
            "prod.tfstate|aws_s3_bucket.b|"
        );
        let id = id_of(&k);
        assert_eq!(id.len(), 28);
        assert!(id.starts_with("drf-"));
        assert_eq!(id, id_of(&k));
        assert_ne!(id, id_of("|aws:aws_s3_bucket:b|tags.Owner"));
    }

    /// One row per step: the input, then the expected status, episode, occurrences, severity,
    /// event kind and notice.
    #[test]
    fn lifecycle_table() {
        type Step<'a> = (Input<'a>, Status, u32, u64, Severity, EventKind, Notice);
        let (o1, o2, o3, o4, o5, o6) = (
            occ(0, Severity::Medium, "alice"),
            occ(1, Severity::Medium, "bob"),
            occ(2, Severity::High, "alice"),
            occ(5, Severity::Critical, "carol"),
            occ(20, Severity::Low, "dave"),
            occ(30, Severity::Low, "erin"),
        );
        let steps: Vec<Step<'_>> = vec![
            (
                Input::Occur(&o1),
                Status::Open,
                1,
                1,
                Severity::Medium,
                EventKind::Opened,
                Notice::Opened,
            ),
            (
                Input::Occur(&o2),
                Status::Open,
                1,
                2,
                Severity::Medium,
                EventKind::Occurred,
                Notice::Quiet,
            ),
            (
                Input::Occur(&o3),
                Status::Open,
                1,
                3,
                Severity::High,
                EventKind::SeverityRaised,
                Notice::Updated,
            ),
            (
                Input::Ack {
                    who: "ops",
                    at: t(3),
                },
                Status::Acknowledged,
                1,
                3,
                Severity::High,
                EventKind::Acknowledged,
                Notice::Quiet,
            ),
            (
                Input::Snooze {
                    who: "ops",
                    until: t(10),
                    at: t(4),
                },
                Status::Snoozed,
                1,
                3,
                Severity::High,
                EventKind::Snoozed,
                Notice::Quiet,
            ),
            // Muted: even a severity rise stays quiet while snoozed.
            (
                Input::Occur(&o4),
                Status::Snoozed,
                1,
                4,
                Severity::Critical,
                EventKind::SeverityRaised,
                Notice::Quiet,
            ),
            // The snooze ended: channels hear again.
            (
                Input::Occur(&o5),
                Status::Open,
                1,
                5,
                Severity::Critical,
                EventKind::Occurred,
                Notice::Updated,
            ),
            (
                Input::Resolve {
                    reason: Reason::Reverted,
                    who: Some("alice"),
                    at: t(25),
                    note: None,
                },
                Status::Resolved,
                1,
                5,
                Severity::Critical,
                EventKind::Resolved,
                Notice::Resolved,
            ),
            // Recurrence reopens: same drift, next episode, severity starts over.
            (
                Input::Occur(&o6),
                Status::Open,
                2,
                6,
                Severity::Low,
                EventKind::Reopened,
                Notice::Opened,
            ),
        ];
        let mut cur: Option<Drift> = None;
        for (i, (input, status, episode, n, sev, kind, notice)) in steps.into_iter().enumerate() {
            let tr =
                apply(cur.as_ref(), &input).unwrap_or_else(|| panic!("step {i}: no transition"));
            assert_eq!(tr.drift.status, status, "step {i}");
            assert_eq!(tr.drift.episode, episode, "step {i}");
            assert_eq!(tr.drift.occurrences, n, "step {i}");
            assert_eq!(tr.drift.severity, sev, "step {i}");
            assert_eq!(tr.events.len(), 1, "step {i}");
            assert_eq!(tr.events[0].kind, kind, "step {i}");
            assert_eq!(tr.notice, notice, "step {i}");
            cur = Some(tr.drift);
        }
        let d = cur.unwrap();
        assert_eq!(d.first_seen, t(0));
        assert_eq!(d.last_seen, t(30));
        assert_eq!(d.actors, ["bob", "alice", "carol", "dave", "erin"]);
        assert!(d.resolved_reason.is_none());
    }

    #[test]
    fn metrics_count_open_by_severity_and_resolved_by_reason() {
        let a = apply(None, &Input::Occur(&occ(0, Severity::High, "alice")))
            .unwrap()
            .drift;
        let mut b = occ(1, Severity::Low, "bob");
        b.key = "other".into();
        b.id = id_of("other");
        let b = apply(None, &Input::Occur(&b)).unwrap().drift;
        let r = Input::Resolve {
            reason: Reason::Reverted,
            who: None,
            at: t(2),
            note: None,
        };
        let b = apply(Some(&b), &r).unwrap().drift;
        let text = metrics_text(&[a, b], t(10));
        assert!(
            text.contains("tfdrift_drifts_open{severity=\"high\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("tfdrift_drifts_open{severity=\"low\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("tfdrift_drift_oldest_open_seconds 600\n"),
            "{text}"
        );
        assert!(text.contains("tfdrift_drifts_opened_total 2\n"), "{text}");
        assert!(
            text.contains("tfdrift_drifts_resolved_total{reason=\"reverted\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn resolving_twice_or_unknown_changes_nothing() {
        let o = occ(0, Severity::High, "alice");
        let r = Input::Resolve {
            reason: Reason::Manual,
            who: Some("ops"),
            at: t(1),
            note: None,
        };
        assert!(apply(None, &r).is_none());
        let open = apply(None, &Input::Occur(&o)).unwrap().drift;
        let done = apply(Some(&open), &r).unwrap();
        assert_eq!(done.drift.resolved_reason, Some(Reason::Manual));
        assert_eq!(done.drift.resolved_by.as_deref(), Some("ops"));
        assert!(apply(Some(&done.drift), &r).is_none());
        assert!(apply(Some(&done.drift), &Input::Ack { who: "x", at: t(2) }).is_none());
    }

    type Case<'a> = (&'a str, Option<Vec<&'a str>>, Vec<&'a str>, bool);

    #[test]
    fn selectors() {
        let o = occ(0, Severity::High, "alice");
        let mut d = apply(None, &Input::Occur(&o)).unwrap().drift;
        let sel = |attrs: Option<Vec<&str>>, keep: Vec<&str>| Selector {
            address: Some("aws_security_group.web".into()),
            rtype: "aws_security_group".into(),
            resource_id: "other-id".into(),
            attributes: attrs.map(|v| v.into_iter().map(String::from).collect()),
            keep: keep.into_iter().map(String::from).collect(),
        };
        let cases: Vec<Case<'_>> = vec![
            ("ingress", None, vec![], true),
            ("ingress", Some(vec!["ingress"]), vec![], true),
            ("ingress", Some(vec!["egress"]), vec![], false),
            ("ingress", Some(vec!["ingress"]), vec!["ingress"], false),
            ("tags.Env", Some(vec!["tags"]), vec![], true),
            ("tags_all.Env", Some(vec!["tags"]), vec![], false),
            ("", Some(vec!["tags"]), vec![], false),
            ("", None, vec![], true),
        ];
        for (attr, attrs, keep, want) in &cases {
            d.attribute = (*attr).into();
            assert_eq!(
                sel(attrs.clone(), keep.clone()).selects(&d),
                *want,
                "{attr} {attrs:?} {keep:?}"
            );
        }
        // Any change that went through ends a deletion drift (the resource exists again).
        d.kind = AlertKind::ManagedResourceDeleted.as_str().into();
        d.attribute = String::new();
        assert!(sel(Some(vec!["tags"]), vec![]).selects(&d));
        // Another resource: never.
        let mut other = sel(None, vec![]);
        other.address = Some("aws_security_group.db".into());
        assert!(!other.selects(&d));
    }

    #[test]
    fn alerts_give_one_occurrence_per_diff() {
        let mut a = crate::notify::sample_alert();
        a.diffs.push(crate::alert::Diff {
            path: "tags.Env".into(),
            state: json!("prod"),
            observed: json!("dev"),
        });
        let occ = occurrences(&a, "");
        assert_eq!(occ.len(), 2);
        assert_eq!(occ[1].attribute, "tags.Env");
        stamp(&mut a, &occ);
        assert_eq!(a.drift_id.as_deref(), Some(occ[0].id.as_str()));
        assert_eq!(a.drift_ids.len(), 2);
        a.kind = AlertKind::ManagedResourceDeleted;
        let occ = occurrences(&a, "");
        assert_eq!(occ.len(), 1);
        assert_eq!(occ[0].attribute, "");
        stamp(&mut a, &occ);
        assert!(a.drift_ids.is_empty());
    }
}
