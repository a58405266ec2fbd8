//! The alert: what tfdrift tells the world, schema `tfdrift.alert/v1`.
//!
//! This shape is a public contract (JSON lines on stdout, webhooks, SIEM): later work adds fields,
//! never renames or removes them. Values are masked before an alert is built (see `mask`).

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
}

impl Alert {
    /// One JSON line (no trailing newline).
    #[must_use]
    pub fn to_json_line(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
