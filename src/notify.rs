//! Notifications: channels (Slack, Discord, generic webhook, email, PagerDuty, Opsgenie, Teams,
//! GitHub and GitLab issues, Falco JSON, JSON lines), routing at record time into the durable outbox, and the outbox worker that
//! delivers with retries, backoff, per-channel rate limits and digests.
//!
//! Flow: the engine records an alert and, in the same transaction, the outbox items the
//! [`NotifyRouter`] returns (one per channel; the payload is a [`Envelope`] holding the alert).
//! The [`worker`] claims due items with a lease, hands each to its channel's own task (a dead
//! channel never blocks another) and marks it delivered, due again later, or failed.
//!
//! Secrets (webhook URLs, tokens, SMTP passwords) come from environment variables or files named
//! in the config. They never appear in logs or errors: URLs are shown as scheme and host only.

// Message rendering builds text piecewise; `write!` would only add `let _ =` noise.
#![allow(clippy::format_push_string, clippy::format_collect)]

pub mod channels;
pub mod discord;
pub mod email;
pub mod falco;
pub mod github;
pub mod gitlab;
pub mod http;
pub mod issue_text;
pub mod issues;
pub mod jsonl;
pub mod limit;
pub mod metrics;
pub mod opsgenie;
pub mod pagerduty;
pub mod router;
pub mod settings;
pub mod setup;
pub mod slack;
pub mod teams;
pub mod webhook;
pub mod worker;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::drift::DriftNote;

pub use channels::{Channel, Channels};
pub use router::NotifyRouter;
pub use settings::{ChannelKind, ChannelSettings, NotifySettings};
pub use setup::NotifySetup;
pub use worker::{Notifier, NotifyStats};

/// What an outbox item carries: the alert and how to present it. Rendering from it is
/// deterministic, so a retry sends the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Envelope {
    /// A new alert (`repeats` similar ones were suppressed by dedupe since the last one).
    Alert {
        /// The alert.
        alert: Box<Alert>,
        /// Identical drift seen (and not notified) since the previous notification.
        #[serde(default)]
        repeats: u64,
        /// Acknowledging or resolving the alert in tfdrift enqueues a [`Envelope::Resolve`] for
        /// this channel (PagerDuty: the incident opened by the trigger is resolved). The store
        /// reads this flag from the stored payload (`$.resolve_on_ack`), in the ack's
        /// transaction.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resolve_on_ack: bool,
        /// A quiet occurrence of the drift (already told) still reaches this channel, as a
        /// `drift.occurred` note: issue trackers comment it. The router sets it at most once per
        /// drift per the channel's comment interval; the store reads it (`$.occurrences`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        occurrences: bool,
        /// The drift this notification opens or updates (set by the store, which decides in
        /// the alert's transaction whether an occurrence notifies at all).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drift: Option<DriftNote>,
    },
    /// The alert was acknowledged or resolved (PagerDuty resolves the incident), or its drift
    /// ended (`drift` says how).
    Resolve {
        /// The alert (the drift's latest occurrence).
        alert: Box<Alert>,
        /// The drift that ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drift: Option<DriftNote>,
    },
}

impl Envelope {
    /// The envelope's alert.
    #[must_use]
    pub fn alert(&self) -> &Alert {
        match self {
            Envelope::Alert { alert, .. } | Envelope::Resolve { alert, .. } => alert,
        }
    }

    /// Serialised for the outbox.
    #[must_use]
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a channel is asked to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// One alert.
    Alert {
        /// The alert.
        alert: Box<Alert>,
        /// Similar drift suppressed by dedupe.
        repeats: u64,
        /// The drift it opens or updates.
        drift: Option<DriftNote>,
    },
    /// Resolve / acknowledge an alert, or tell that its drift ended.
    Resolve {
        /// The alert.
        alert: Box<Alert>,
        /// The drift that ended, and how.
        drift: Option<DriftNote>,
    },
    /// The rate limit held these back; one message summarises them.
    Digest {
        /// The held-back alerts (only the first few are listed).
        alerts: Vec<Alert>,
    },
}

impl From<Envelope> for Message {
    fn from(e: Envelope) -> Self {
        match e {
            Envelope::Alert {
                alert,
                repeats,
                drift,
                ..
            } => Message::Alert {
                alert,
                repeats,
                drift,
            },
            Envelope::Resolve { alert, drift } => Message::Resolve { alert, drift },
        }
    }
}

/// How many held-back alerts a digest lists by name.
pub const DIGEST_LIST: usize = 10;

/// A delivery failure. `message` never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong (redacted).
    pub message: String,
    /// Worth retrying (timeouts, connection errors, 429, 5xx).
    pub retryable: bool,
    /// The server asked to wait this long (429 `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SendError {
    /// A transient failure.
    #[must_use]
    pub fn retry(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }

    /// A failure retrying cannot fix (bad request, bad config).
    #[must_use]
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

/// A URL reduced to scheme and host (and port) for logs and errors: webhook URLs carry their
/// secret in the path or query.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        }
        Err(_) => "(unparseable URL)".to_string(),
    }
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
#[must_use]
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One-line summary used as a title everywhere: `HIGH attribute_drift aws_security_group.web`.
#[must_use]
pub fn title(a: &Alert) -> String {
    let what = a
        .resource
        .address
        .clone()
        .unwrap_or_else(|| format!("{} {}", a.resource.rtype, a.resource.id));
    format!(
        "{} {} {what}",
        a.severity.as_str().to_ascii_uppercase(),
        a.kind.as_str()
    )
}

/// Who did it, for display (a reconcile alert: its attribution line).
#[must_use]
pub fn actor_line(a: &Alert) -> String {
    // A reconcile alert says what the event history knows: `changed by alice via console at …`
    // or `no event seen` (a finding of its own: a catalog gap, a missing trail).
    if let Some(line) = &a.attribution {
        return line.clone();
    }
    let who = if a.enrichment.identity.display.is_empty() {
        a.actor
            .arn
            .clone()
            .or_else(|| a.actor.email.clone())
            .or_else(|| a.actor.principal.clone())
            .unwrap_or_else(|| "unknown".into())
    } else {
        a.enrichment.identity.display.clone()
    };
    format!("{who} (via {})", via_str(a))
}

/// `actor.via` as text.
#[must_use]
pub fn via_str(a: &Alert) -> &'static str {
    use crate::alert::Via;
    match a.actor.via {
        Via::Console => "console",
        Via::Cli => "cli",
        Via::Sdk => "sdk",
        Via::Terraform => "terraform",
        Via::Service => "service",
        Via::Unknown => "unknown",
    }
}

/// What a message says about its drift: `Drift drf-… (open since …, 3 occurrences) resolved:
/// reverted by alice` for a resolution (it names the original notification's drift), `Drift
/// drf-… · episode 2 · 3 occurrences` otherwise.
#[must_use]
pub fn drift_line(note: &DriftNote) -> String {
    if note.event == "drift.resolved" {
        format!(
            "Drift {} (open since {}, {} occurrence(s)) {}",
            note.id,
            note.first_seen.to_rfc3339(),
            note.occurrences,
            note.resolution_line()
        )
    } else {
        format!(
            "Drift {} · episode {} · {} occurrence(s)",
            note.id, note.episode, note.occurrences
        )
    }
}

/// The title of a resolution: `Resolved (reverted by alice): HIGH attribute_drift …`.
#[must_use]
pub fn resolved_title(a: &Alert, note: Option<&DriftNote>) -> String {
    match note.and_then(|n| n.reason) {
        Some(r) => match note.and_then(|n| n.resolved_by.as_deref()) {
            Some(who) => format!("Resolved ({} by {who}): {}", r.as_str(), title(a)),
            None => format!("Resolved ({}): {}", r.as_str(), title(a)),
        },
        None => format!("Resolved: {}", title(a)),
    }
}

/// A JSON value as compact text for diff tables.
#[must_use]
pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A sample alert for `tfdrift notify test`.
#[must_use]
pub fn sample_alert() -> Alert {
    use crate::alert::{ActorRef, AlertKind, Diff, EventRef, ResourceRef, SCHEMA, Severity, Via};
    Alert {
        schema: SCHEMA.into(),
        id: "tfd-test-notification".into(),
        time: chrono::Utc::now(),
        kind: AlertKind::AttributeDrift,
        severity: Severity::High,
        provider: "aws".into(),
        resource: ResourceRef {
            rtype: "aws_security_group".into(),
            id: "sg-0123456789abcdef0".into(),
            address: Some("aws_security_group.web".into()),
            managed: true,
        },
        diffs: vec![Diff {
            path: "ingress".into(),
            state: serde_json::json!([{"from_port": 443, "cidr_blocks": ["10.0.0.0/8"]}]),
            observed: serde_json::json!([{"from_port": 22, "cidr_blocks": ["0.0.0.0/0"]}]),
        }],
        event: EventRef {
            id: "test-event".into(),
            name: "AuthorizeSecurityGroupIngress".into(),
            service: "ec2".into(),
            time: Some(chrono::Utc::now()),
            time_source: None,
            region: Some("us-east-1".into()),
            account: Some("123456789012".into()),
        },
        actor: ActorRef {
            arn: Some("arn:aws:sts::123456789012:assumed-role/Admin/alice".into()),
            via: Via::Console,
            ..ActorRef::default()
        },
        rules: vec!["test-notification".into()],
        remediation: vec!["terraform apply -target=aws_security_group.web".into()],
        runbook: Some("https://example.com/runbooks/sg".into()),
        enrichment: crate::alert::Enrichment::default(),
        drift_id: None,
        drift_ids: Vec::new(),
        attribution: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_to_scheme_and_host() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/SECRET?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/hook/abc"),
            "http://127.0.0.1:8080/…"
        );
        assert!(!redact_url("not a url SECRET").contains("SECRET"));
    }

    #[test]
    fn envelope_round_trips() {
        for resolve_on_ack in [false, true] {
            let e = Envelope::Alert {
                alert: Box::new(sample_alert()),
                repeats: 2,
                resolve_on_ack,
                occurrences: false,
                drift: None,
            };
            let back: Envelope = serde_json::from_str(&e.to_payload()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn truncates_by_chars() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 3), "hé…");
    }
}
