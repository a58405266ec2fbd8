//! The alert: what tfdrift tells the world, schema `tfdrift.alert/v1`.
//!
//! This shape is a public contract (JSON lines on stdout, webhooks, SIEM): later work adds fields,
//! never renames or removes them. Values are masked before an alert is built (see `mask`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Schema identifier written into every alert.
pub const SCHEMA: &str = "tfdrift.alert/v1";

/// What kind of drift an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A managed resource's attributes now differ from the state.
    AttributeDrift,
    /// A managed resource was deleted outside Terraform.
    ManagedResourceDeleted,
    /// A resource no loaded state manages was created, changed or deleted.
    UnmanagedChange,
}

impl AlertKind {
    /// Stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::AttributeDrift => "attribute_drift",
            AlertKind::ManagedResourceDeleted => "managed_resource_deleted",
            AlertKind::UnmanagedChange => "unmanaged_change",
        }
    }
}

/// Severity, ordered from least to most urgent so `max()` picks the most urgent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording.
    Info,
    /// Worth a look.
    Low,
    /// The default for drift no rule claims.
    #[default]
    Medium,
    /// Needs attention today.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a severity name case-insensitively.
    #[must_use]
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// The resource an alert is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// Terraform type (`aws_security_group`).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Cloud id as the event or state names it.
    pub id: String,
    /// Terraform address when managed, else `null`.
    pub address: Option<String>,
    /// Whether a loaded state manages it.
    pub managed: bool,
}

/// One attribute difference: what the state says versus what the event shows now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// Terraform attribute path (`ingress`, `tags.Environment`, `versioning.0.enabled`).
    pub path: String,
    /// Value in Terraform state (masked when sensitive).
    pub state: Value,
    /// Value observed in the event (masked when sensitive).
    pub observed: Value,
}

/// The event that revealed the drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRef {
    /// Event id (`eventID`, `insertId`).
    pub id: String,
    /// Action as logged (`AuthorizeSecurityGroupIngress`, `v1.compute.firewalls.patch`).
    pub name: String,
    /// Short service (`ec2`, `compute`).
    pub service: String,
    /// When the call happened.
    pub time: Option<DateTime<Utc>>,
    /// Where `time` came from when the record had none (file name, file time, or none: then
    /// `time` is null and the alert's `time` is when it was processed). Absent: the record's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_source: Option<crate::event::TimeSource>,
    /// Region or location.
    pub region: Option<String>,
    /// Account or project.
    pub account: Option<String>,
}

/// How the change was made, from the user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// AWS console / Cloud console.
    Console,
    /// aws CLI / gcloud.
    Cli,
    /// An SDK (boto3, Go, Java …).
    Sdk,
    /// Terraform or OpenTofu.
    Terraform,
    /// A cloud service on someone's behalf.
    Service,
    /// Could not tell.
    #[default]
    Unknown,
}

/// Who made the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ActorRef {
    /// Identity type (IAMUser, AssumedRole, Root, AWSService, user, serviceAccount).
    #[serde(rename = "type")]
    pub identity_type: Option<String>,
    /// Principal id or subject.
    pub principal: Option<String>,
    /// Caller ARN.
    pub arn: Option<String>,
    /// Caller email (GCP).
    pub email: Option<String>,
    /// Role session or user name.
    pub session: Option<String>,
    /// Raw user agent.
    pub user_agent: Option<String>,
    /// Source IP or service host.
    pub source_ip: Option<String>,
    /// Console, CLI, SDK, Terraform, service or unknown.
    pub via: Via,
}

/// A drift alert, schema `tfdrift.alert/v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Deterministic id: the same event and resource always give the same id (idempotent sinks).
    pub id: String,
    /// Event time (falls back to processing time when the event has none).
    pub time: DateTime<Utc>,
    /// What kind of drift.
    pub kind: AlertKind,
    /// Highest matching rule's severity, or the profile default.
    pub severity: Severity,
    /// `aws` or `gcp`.
    pub provider: String,
    /// The resource.
    pub resource: ResourceRef,
    /// Attribute differences (empty for deletions and unmanaged changes).
    pub diffs: Vec<Diff>,
    /// The revealing event.
    pub event: EventRef,
    /// Who did it.
    pub actor: ActorRef,
    /// Ids of every rule that matched (highest severity first).
    pub rules: Vec<String>,
    /// Rendered remediation steps.
    pub remediation: Vec<String>,
    /// Runbook link or text of the winning rule.
    pub runbook: Option<String>,
    /// Context for the on-call engineer: who really, whose resource, what else changed, what
    /// depends on it. Always present with every key, empty values when unknown.
    #[serde(default)]
    pub enrichment: Enrichment,
    /// The drift this alert is an occurrence of: its first diff's, or the resource-level drift
    /// (see `drift`). `null` when no drift was computed (tests, samples).
    #[serde(default)]
    pub drift_id: Option<String>,
    /// Every drift of the alert, when it has more than one diff (else empty and omitted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift_ids: Vec<String>,
    /// For a reconcile alert (event service `reconcile`): who changed it as the event history
    /// tells it — `changed by alice via console at … (alert tfd-…)` — or `no event seen`, so a
    /// notification says whether an audit log saw the change. Absent for event alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
}

/// Everything `enrich` adds to an alert (schema `tfdrift.alert/v1`, `enrichment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Enrichment {
    /// The human (or service) behind the call.
    pub identity: Identity,
    /// Owner tag/label value (keys configurable: `Owner`, `owner` …).
    pub owner: Option<String>,
    /// Team tag/label value.
    pub team: Option<String>,
    /// Environment tag/label value (`Environment`, `env` …).
    pub environment: Option<String>,
    /// Cost centre tag/label value.
    pub cost_center: Option<String>,
    /// Tags and labels: the state's (`tags_all`, `tags`, `labels`), then the event's for keys
    /// the state lacks.
    pub tags: BTreeMap<String, String>,
    /// Earlier changes to the resource and by the same actor (needs a store).
    pub history: ChangeHistory,
    /// What depends on the resource in the loaded states.
    pub blast_radius: BlastRadius,
}

/// Who made the change, resolved to a person where the log allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Identity {
    /// `iam_user`, `assumed_role`, `sso_user`, `federated_user`, `root`, `aws_service`,
    /// `aws_account`, `gcp_user`, `gcp_service_account`, or `unknown`.
    pub kind: String,
    /// The person to talk to: SSO user / session name, IAM user name, federated user, GCP email
    /// (the original caller of an impersonation chain). `None` for services.
    pub human: Option<String>,
    /// One line for display: `bob.ross (SSO DevAdmin) via console`.
    pub display: String,
    /// Role name (assumed roles), permission set (SSO) or service account (GCP).
    pub role: Option<String>,
    /// AWS account or GCP project of the caller.
    pub account: Option<String>,
    /// Service that called on the principal's behalf (`invokedBy`).
    pub invoked_by: Option<String>,
    /// GCP impersonation chain, original caller first, acting service account last.
    pub delegation: Vec<String>,
    /// Console, CLI, SDK, Terraform, service (as `actor.via`).
    pub via: Via,
    /// Tool and version from the user agent (`aws-cli/2.13.5`, `Boto3/1.17.80`, `Terraform/1.5.7`).
    pub tool: Option<String>,
    /// SDK or CLI language (`python`, `go`, `java`, `javascript` …).
    pub sdk_language: Option<String>,
    /// Source IP or service host.
    pub source_ip: Option<String>,
    /// `public`, `private`, `loopback`, `aws_service`, `internal` (cloud-internal), `unknown`.
    pub source_kind: String,
    /// Whether the session used MFA, when the log says.
    pub mfa: Option<bool>,
}

/// Earlier changes (from the store, 7 days before the alert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ChangeHistory {
    /// Changes to this resource per day, oldest first; the last entry is the 24 hours before
    /// this alert (this alert not included). For a sparkline.
    pub days: [u32; 7],
    /// Earlier changes to this resource, newest first (at most 10; `days` counts them all).
    pub recent: Vec<HistoryItem>,
    /// The same actor's other recent changes, newest first (at most 5).
    pub actor_recent: Vec<HistoryItem>,
    /// The resource changed more often than the counts go (1,000 in 7 days): `days` stops
    /// there, the oldest days are undercounted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub capped: bool,
}

/// One earlier change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// When.
    pub time: DateTime<Utc>,
    /// Resource (`type:id`).
    pub resource: String,
    /// Terraform address, when managed.
    pub address: Option<String>,
    /// Who (ARN, email or principal).
    pub actor: Option<String>,
    /// Alert kind.
    pub kind: String,
    /// Event name.
    pub event_name: String,
    /// The alert it raised.
    pub alert_id: String,
}

/// Resources that depend on the drifted one, transitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BlastRadius {
    /// How many resources depend on it (directly or not).
    pub count: usize,
    /// Longest dependency chain to it.
    pub max_depth: usize,
    /// Their addresses, nearest first (at most 50; `count` has the total).
    pub dependents: Vec<String>,
}

impl Alert {
    /// One JSON line (no trailing newline).
    #[must_use]
    pub fn to_json_line(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
