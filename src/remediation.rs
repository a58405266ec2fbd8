//! Remediation behind approval: a responder asks the daemon to **restore** a drifted resource
//! (`terraform plan -target=ADDR`, apply puts the code's value back) or to **accept** the cloud's
//! value (`-refresh-only`, apply writes it into state); the daemon makes a saved plan and keeps
//! it, its sha256 and its (masked) text; another person with the admin role approves, and the
//! daemon applies exactly that saved plan.
//!
//! Off by default (`remediation: {enabled: true}` in the profile). What may be applied is
//! decided by [`check_approval`], a pure function over the stored request and what the daemon
//! sees now: never the requester's own approval, never a plan past `plan_ttl`, never one
//! superseded by a newer request for the same drift or by a change of the drift itself, never
//! a plan file whose bytes changed since it was made. The terraform side is [`exec`].

pub mod exec;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::drift::Drift;

/// `remediation:` in a profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSettings")]
pub struct RemediationSettings {
    /// Requests are accepted at all (default false: the daemon never applies).
    pub enabled: bool,
    /// Distinct admins (never the requester) whose approval applies a plan (default 1).
    pub approvals: u32,
    /// How long a saved plan may wait for its approvals (default 15m).
    pub plan_ttl: Duration,
}

impl Default for RemediationSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            approvals: 1,
            plan_ttl: Duration::from_mins(15),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "one")]
    approvals: u32,
    #[serde(default)]
    plan_ttl: Option<String>,
}

fn one() -> u32 {
    1
}

impl TryFrom<RawSettings> for RemediationSettings {
    type Error = String;

    fn try_from(r: RawSettings) -> Result<Self, String> {
        if !(1..=5).contains(&r.approvals) {
            return Err(format!(
                "remediation.approvals is {}: give 1 to 5 (distinct admins, never the requester)",
                r.approvals
            ));
        }
        let plan_ttl = match r.plan_ttl {
            None => Duration::from_mins(15),
            Some(s) => crate::reconcile::settings::parse_duration(&s)
                .map_err(|e| format!("remediation.plan_ttl: {e}"))?,
        };
        if plan_ttl.is_zero() {
            return Err("remediation.plan_ttl is 0: give how long a saved plan may wait for approval (e.g. 15m)".into());
        }
        Ok(Self {
            enabled: r.enabled,
            approvals: r.approvals,
            plan_ttl,
        })
    }
}

/// What a remediation does to the drifted resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Put the configuration's value back (`terraform apply -target=ADDR`).
    Restore,
    /// Take the cloud's value into state (`terraform apply -refresh-only -target=ADDR`).
    Accept,
}

impl Kind {
    /// The stored and wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Restore => "restore",
            Kind::Accept => "accept",
        }
    }

    /// `restore` or `accept`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "restore" => Some(Kind::Restore),
            "accept" => Some(Kind::Accept),
            _ => None,
        }
    }
}

/// Where a remediation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Planned, waiting for approval.
    Pending,
    /// Approved; terraform apply is running.
    Applying,
    /// Applied successfully.
    Applied,
    /// terraform apply failed (its output says why).
    Failed,
    /// An admin rejected it.
    Rejected,
    /// Its plan passed `plan_ttl` before approval.
    Expired,
    /// A newer request for the drift, or a change of the drift, made its plan stale.
    Superseded,
}

impl Status {
    /// The stored and wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Applying => "applying",
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Superseded => "superseded",
        }
    }

    /// The stored name back (unknown names read as failed: never as applicable).
    #[must_use]
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => Status::Pending,
            "applying" => Status::Applying,
            "applied" => Status::Applied,
            "rejected" => Status::Rejected,
            "expired" => Status::Expired,
            "superseded" => Status::Superseded,
            _ => Status::Failed,
        }
    }
}

/// One remediation request, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// The drift it remediates.
    pub drift_id: String,
    /// Restore or accept.
    pub kind: Kind,
    /// The requester's note.
    pub note: String,
    /// The workspace's board label (whose state holds the address).
    pub workspace: String,
    /// The Terraform address targeted.
    pub address: String,
    /// Who asked (the token's name).
    pub requested_by: String,
    /// When the plan was made.
    pub requested_at: DateTime<Utc>,
    /// After this the plan is refused.
    pub expires_at: DateTime<Utc>,
    /// The saved plan file.
    pub plan_path: String,
    /// sha256 (hex) of the plan file as made.
    pub plan_sha256: String,
    /// `terraform show` of the plan, masked.
    pub plan_text: String,
    /// The drift as it was when the plan was made ([`drift_fingerprint`]).
    pub drift_fingerprint: String,
    /// Where it stands.
    pub status: Status,
    /// Admins who approved, in order.
    pub approvers: Vec<String>,
    /// Who applied, rejected (or whose approval found it expired / superseded).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// terraform apply's output, masked.
    pub output: String,
    /// Why it was rejected, refused or failed.
    pub reason: Option<String>,
}

/// What makes a drift "the same" for a waiting plan: its episode, and the values on both sides.
/// A reopened, re-observed or resolved drift changes it.
#[must_use]
pub fn drift_fingerprint(d: &Drift) -> String {
    let mut h = Sha256::new();
    h.update(d.id.as_bytes());
    h.update(d.episode.to_le_bytes());
    h.update(d.observed.to_string().as_bytes());
    h.update(b"|");
    h.update(d.state_value.to_string().as_bytes());
    h.update(d.resolved_at.is_some().to_string().as_bytes());
    hex(&h.finalize())
}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// sha256 (hex) of a file's bytes; `None` when it cannot be read.
#[must_use]
pub fn file_sha256(path: &std::path::Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| hex(&Sha256::digest(&b)))
}

/// Why an approval is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The caller asked for it.
    #[error(
        "remediation {id} was requested by '{who}': the requester cannot approve it; another admin must"
    )]
    SelfApproval {
        /// Request id.
        id: i64,
        /// The requester.
        who: String,
    },
    /// The caller already approved it.
    #[error("'{who}' already approved remediation {id}; it needs another admin's approval")]
    AlreadyApproved {
        /// Request id.
        id: i64,
        /// The caller.
        who: String,
    },
    /// Not pending any more.
    #[error("remediation {id} is {status}, not pending: request a new one")]
    NotPending {
        /// Request id.
        id: i64,
        /// Its status.
        status: &'static str,
    },
    /// Past its ttl.
    #[error("remediation {id}'s plan expired at {at} (remediation.plan_ttl): request a new plan")]
    Expired {
        /// Request id.
        id: i64,
        /// When it expired (RFC 3339).
        at: String,
    },
    /// Stale.
    #[error("remediation {id} is superseded: {why}; request a new plan")]
    Superseded {
        /// Request id.
        id: i64,
        /// What superseded it.
        why: String,
    },
    /// The plan file is gone or different.
    #[error(
        "remediation {id}'s plan file changed or is gone since it was made (sha256 mismatch): it will not be applied; request a new plan"
    )]
    PlanChanged {
        /// Request id.
        id: i64,
    },
}

impl Refusal {
    /// The status the request takes for this refusal (`None`: it stays as it is).
    #[must_use]
    pub fn status(&self) -> Option<Status> {
        match self {
            Refusal::Expired { .. } => Some(Status::Expired),
            Refusal::Superseded { .. } | Refusal::PlanChanged { .. } => Some(Status::Superseded),
            _ => None,
        }
    }
}

/// What the daemon sees at approval time.
#[derive(Debug, Clone)]
pub struct Now<'a> {
    /// The approving admin.
    pub caller: &'a str,
    /// The clock.
    pub at: DateTime<Utc>,
    /// The newest request's id for the same drift.
    pub newest_for_drift: i64,
    /// The drift's fingerprint now (`None`: gone from the store).
    pub drift: Option<(String, bool)>,
    /// sha256 of the plan file now (`None`: unreadable).
    pub plan_sha256: Option<String>,
}

/// Whether `caller` may approve `r` now; the first reason it may not.
pub fn check_approval(r: &Remediation, now: &Now<'_>) -> Result<(), Refusal> {
    let id = r.id;
    if r.status != Status::Pending {
        return Err(Refusal::NotPending {
            id,
            status: r.status.as_str(),
        });
    }
    if r.requested_by == now.caller {
        return Err(Refusal::SelfApproval {
            id,
            who: r.requested_by.clone(),
        });
    }
    if r.approvers.iter().any(|a| a == now.caller) {
        return Err(Refusal::AlreadyApproved {
            id,
            who: now.caller.to_string(),
        });
    }
    if now.at >= r.expires_at {
        return Err(Refusal::Expired {
            id,
            at: r.expires_at.to_rfc3339(),
        });
    }
    if now.newest_for_drift > id {
        return Err(Refusal::Superseded {
            id,
            why: format!(
                "a newer request ({}) for drift {} exists",
                now.newest_for_drift, r.drift_id
            ),
        });
    }
    match &now.drift {
        None => {
            return Err(Refusal::Superseded {
                id,
                why: format!("drift {} is no longer in the store", r.drift_id),
            });
        }
        Some((_, true)) => {
            return Err(Refusal::Superseded {
                id,
                why: format!("drift {} was resolved since the plan was made", r.drift_id),
            });
        }
        Some((fp, false)) if *fp != r.drift_fingerprint => {
            return Err(Refusal::Superseded {
                id,
                why: format!("drift {} changed since the plan was made", r.drift_id),
            });
        }
        Some(_) => {}
    }
    if now.plan_sha256.as_deref() != Some(r.plan_sha256.as_str()) {
        return Err(Refusal::PlanChanged { id });
    }
    Ok(())
}

/// Masks credentials in terraform's text output (plans, apply logs) line by line.
#[must_use]
pub fn mask_output(text: &str) -> String {
    let key_id = crate::mask::detect::has_key_id(text);
    text.lines()
        .map(|l| crate::mask::mask_text(l, key_id).unwrap_or_else(|| l.to_string()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;
