//! The drift model: statuses, reasons, event kinds, the stored drift and its events, and the
//! inputs and outputs of the transition function ([`super::apply`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::{AlertKind, Severity};

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
    /// `drift.opened`, `drift.updated` or `drift.resolved`; `drift.occurred` for a quiet
    /// occurrence an issue-tracker channel comments (flagged by the router).
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
