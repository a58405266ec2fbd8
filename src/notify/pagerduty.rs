//! PagerDuty Events API v2: `trigger` with `dedup_key` = the alert fingerprint (recurring drift
//! on the same resource updates one incident), `resolve` with the same key.

use serde_json::{Value, json};

use super::{DIGEST_LIST, Message, actor_line, title, truncate};
use crate::alert::{Alert, Severity};
use crate::store::fingerprint;

/// The public Events API endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty's severities: critical, error, warning, info.
#[must_use]
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium | Severity::Low => "warning",
        Severity::Info => "info",
    }
}

/// `trigger` event for an alert.
#[must_use]
pub fn trigger(routing_key: &str, a: &Alert, repeats: u64) -> Value {
    let mut links = Vec::new();
    if let Some(rb) = &a.runbook
        && rb.starts_with("http")
    {
        links.push(json!({"href": rb, "text": "Runbook"}));
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": fingerprint(a),
        "payload": {
            "summary": truncate(&format!("{} by {}", title(a), actor_line(a)), 1024),
            "source": a.resource.address.clone().unwrap_or_else(|| a.resource.id.clone()),
            "severity": severity(a.severity),
            "timestamp": a.time.to_rfc3339(),
            "component": a.resource.rtype,
            "group": a.event.account,
            "class": a.kind.as_str(),
            "custom_details": {
                "alert_id": a.id,
                "diffs": a.diffs,
                "event": a.event.name,
                "actor": a.actor,
                "remediation": a.remediation,
                "rules": a.rules,
                "repeats": repeats,
            },
        },
        "links": links,
        "client": "tfdrift",
    })
}

/// `resolve` event for an alert (acknowledged or resolved in tfdrift).
#[must_use]
pub fn resolve(routing_key: &str, a: &Alert) -> Value {
    json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": fingerprint(a)})
}

/// The event for a message.
#[must_use]
pub fn render(routing_key: &str, msg: &Message) -> Value {
    match msg {
        Message::Alert { alert, repeats, .. } => trigger(routing_key, alert, *repeats),
        // Acks and drift resolutions alike: the same dedup_key as the trigger.
        Message::Resolve { alert, .. } => resolve(routing_key, alert),
        Message::Digest { alerts } => {
            let top = alerts.iter().map(|a| a.severity).max().unwrap_or_default();
            let names: Vec<String> = alerts.iter().take(DIGEST_LIST).map(title).collect();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": "tfdrift-rate-limit-digest",
                "payload": {
                    "summary": format!("{} drift alerts held back by the tfdrift rate limit", alerts.len()),
                    "source": "tfdrift",
                    "severity": severity(top),
                    "custom_details": {"alerts": names},
                },
            })
        }
    }
}
