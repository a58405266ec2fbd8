//! The normalised cloud event: one shape for every provider and delivery format.
//!
//! Everything downstream of `normalize` (mapping, detection, rules, enrichment) reads only this
//! type, so a new input format never touches detection logic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which cloud an event came from. Decides which catalog half maps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// AWS, from CloudTrail (directly or through Falco's cloudtrail plugin).
    Aws,
    /// Google Cloud, from Cloud Audit Logs (directly or through Falco's gcpaudit plugin).
    Gcp,
}

impl Provider {
    /// Lower-case name used in alerts and stats.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
        }
    }
}

/// Who made the call, as the log says it. Enrichment derives the human behind it later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// `userIdentity.type` (IAMUser, AssumedRole, Root, AWSService …) or `gcp` principal kind.
    #[serde(rename = "type")]
    pub identity_type: Option<String>,
    /// Stable principal id (`AIDA…`, `AROA…:session`) or GCP principal subject.
    pub principal: Option<String>,
    /// Full ARN of the caller (AWS).
    pub arn: Option<String>,
    /// Caller email (GCP `principalEmail`).
    pub email: Option<String>,
    /// Role session name for assumed roles; the first thing an on-call engineer wants to see.
    pub session: Option<String>,
    /// The role or user that issued the session (`sessionContext.sessionIssuer.arn`).
    pub session_issuer: Option<String>,
    /// AWS service that made the call on the user's behalf (`invokedBy`).
    pub invoked_by: Option<String>,
    /// Raw user agent; decides `via` and whether Terraform made the change.
    pub user_agent: Option<String>,
    /// Caller IP or service hostname as logged.
    pub source_ip: Option<String>,
    /// Whether the session was authenticated with MFA, when the log says so.
    pub mfa: Option<bool>,
    /// GCP impersonation chain (`serviceAccountDelegationInfo`), original caller first. The
    /// first entry is also in `session_issuer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegation: Vec<String>,
}

/// One API call, normalised. Cheap to clone is not a goal: it moves through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudEvent {
    /// AWS or GCP.
    pub provider: Provider,
    /// Short service name: `ec2`, `s3`, `iam`, `compute`, `storage` …
    pub service: String,
    /// Event source host (`ec2.amazonaws.com`, `compute.googleapis.com`); disambiguates names
    /// that several services share (CreateCluster, TagResource …).
    pub source: String,
    /// Action without API-version suffixes or `v1.`/`beta.` prefixes: `UpdateFunctionConfiguration`,
    /// `compute.firewalls.patch`.
    pub action: String,
    /// Action exactly as logged, for display and stats.
    pub raw_action: String,
    /// When the call happened (UTC). `None` only when the record carries no parseable time
    /// and its delivery gave no fallback.
    pub time: Option<DateTime<Utc>>,
    /// Where `time` came from when not from the record itself (`None`: the record's own time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_source: Option<TimeSource>,
    /// AWS region or GCP location.
    pub region: Option<String>,
    /// AWS account id or GCP project id.
    pub account: Option<String>,
    /// Caller.
    pub actor: Actor,
    /// `requestParameters` / `protoPayload.request` (Null when absent).
    pub request: Value,
    /// `responseElements` / `protoPayload.response` (Null when absent).
    pub response: Value,
    /// Extra provider data the mapper may need (`serviceData`, `additionalEventData`, resource name).
    pub extra: Value,
    /// Set when the call failed; failed calls never drift.
    pub error_code: Option<String>,
    /// The log's own read-only flag when it has one.
    pub read_only: Option<bool>,
    /// `Management` / `Data` for CloudTrail; `data_access` log for GCP maps to `Data`.
    pub category: Option<String>,
    /// Unique event id (`eventID`, `insertId`): the dedupe key.
    pub id: String,
    /// GCP resource name (`protoPayload.resourceName`), AWS: none.
    pub resource_name: Option<String>,
    /// Long-running operation marker (GCP): id plus first/last flags.
    pub operation: Option<Operation>,
}

/// Where an event's time came from when the record had none, so two replays of the same log
/// give the same times and the alert says how much to trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The record's own time (`eventTime`, `timestamp`, `time`).
    Event,
    /// The time in the log file's name (CloudTrail `…_20171211T1505Z_…`).
    FileName,
    /// The log file's modification time.
    FileModified,
    /// No time anywhere: the alert's `time` is when it was processed, `event.time` is null.
    Processing,
}

/// A GCP long-running operation marker: the same change is logged at its start and its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// Operation id shared by the first and last entries (GCP: with the method and resource,
    /// `id|method|resource`: bare ids repeat in real exports).
    pub id: String,
    /// This entry opens the operation.
    pub first: bool,
    /// This entry closes the operation.
    pub last: bool,
}

impl CloudEvent {
    /// An empty event for `provider`; normalisers fill in what the record has.
    #[must_use]
    pub fn new(provider: Provider) -> Self {
        CloudEvent {
            provider,
            service: String::new(),
            source: String::new(),
            action: String::new(),
            raw_action: String::new(),
            time: None,
            time_source: None,
            region: None,
            account: None,
            actor: Actor::default(),
            request: Value::Null,
            response: Value::Null,
            extra: Value::Null,
            error_code: None,
            read_only: None,
            category: None,
            id: String::new(),
            resource_name: None,
            operation: None,
        }
    }
}
