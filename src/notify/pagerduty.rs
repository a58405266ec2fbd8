//! PagerDuty Events API v2: `trigger` with `dedup_key` = the drift id (one incident per drift:
//! two drifts on one resource are two incidents, and a drift's resolution resolves only its
//! own), `resolve` with the same key. Alerts without a drift (stores without drifts, `notify
//! test`) keep the alert fingerprint as the key.

use serde_json::{Value, json};

use super::{DIGEST_LIST, Message, actor_line, title, truncate};
use crate::alert::{Alert, Severity};
use crate::drift::DriftNote;
use crate::store::fingerprint;

/// The incident key: the drift the message is about (its note), else the alert's drift, else
/// the alert's fingerprint.
#[must_use]
pub fn dedup_key(a: &Alert, note: Option<&DriftNote>) -> String {
    note.map(|n| n.id.clone())
        .or_else(|| a.drift_id.clone())
        .unwrap_or_else(|| fingerprint(a))
}

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

/// `trigger` event for an alert (of the drift `note` names).
#[must_use]
pub fn trigger(routing_key: &str, a: &Alert, repeats: u64, note: Option<&DriftNote>) -> Value {
    let mut links = Vec::new();
    if let Some(rb) = &a.runbook
        && rb.starts_with("http")
    {
        links.push(json!({"href": rb, "text": "Runbook"}));
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(a, note),
        "payload": {
            "summary": truncate(&summary(a), 1024),
            "source": a.resource.address.clone().unwrap_or_else(|| a.resource.id.clone()),
            "severity": severity(a.severity),
            "timestamp": a.time.to_rfc3339(),
            "component": a.resource.rtype,
            "group": a.event.account,
            "class": a.kind.as_str(),
            "custom_details": {
                "alert_id": a.id,
                "drift_id": note.map(|n| n.id.as_str()).or(a.drift_id.as_deref()),
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

/// `resolve` event for an alert acknowledged or resolved in tfdrift, or for the drift `note`
/// names that ended.
#[must_use]
pub fn resolve(routing_key: &str, a: &Alert, note: Option<&DriftNote>) -> Value {
    json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(a, note)})
}

/// The event for a message.
#[must_use]
pub fn render(routing_key: &str, msg: &Message) -> Value {
    match msg {
        Message::Alert {
            alert,
            repeats,
            drift,
        } => trigger(routing_key, alert, *repeats, drift.as_ref()),
        // Acks and drift resolutions alike: the same dedup_key as the trigger.
        Message::Resolve { alert, drift } => resolve(routing_key, alert, drift.as_ref()),
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

/// `<title> by <who> (via …)`; a reconcile alert's attribution reads as a clause of its own
/// (`… — changed by alice via console at …`, `… — no event seen`), not after "by".
fn summary(a: &Alert) -> String {
    match &a.attribution {
        Some(line) => format!("{} — {line}", title(a)),
        None => format!("{} by {}", title(a), actor_line(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::Reason;

    fn note(id: &str, event: &str, attribute: &str) -> DriftNote {
        DriftNote {
            event: event.into(),
            id: id.into(),
            episode: 1,
            occurrences: 1,
            attribute: attribute.into(),
            first_seen: chrono::Utc::now(),
            reason: (event == "drift.resolved").then_some(Reason::Reverted),
            resolved_by: None,
        }
    }

    #[test]
    fn reconcile_attribution_is_not_read_as_an_actor() {
        let mut a = crate::notify::sample_alert();
        assert!(summary(&a).contains(" by "), "{}", summary(&a));
        a.attribution = Some("no event seen".into());
        let s = summary(&a);
        assert!(s.ends_with(" — no event seen"), "{s}");
        assert!(!s.contains(" by "), "{s}");
    }

    /// Two drifts of one resource (one alert each, same fingerprint) are two incidents, and
    /// the resolution of one resolves only its own.
    #[test]
    fn one_incident_per_drift() {
        let mut a = crate::notify::sample_alert();
        a.drift_id = Some("drf-aaaa".into());
        let mut b = a.clone();
        b.id = "tfd-other".into();
        b.drift_id = Some("drf-bbbb".into());
        b.diffs[0].path = "egress".into();
        assert_eq!(
            fingerprint(&a),
            fingerprint(&b),
            "one resource, one fingerprint"
        );
        let msg = |alert: &Alert, n: DriftNote, resolve: bool| {
            if resolve {
                Message::Resolve {
                    alert: Box::new(alert.clone()),
                    drift: Some(n),
                }
            } else {
                Message::Alert {
                    alert: Box::new(alert.clone()),
                    repeats: 0,
                    drift: Some(n),
                }
            }
        };
        let ta = render(
            "K",
            &msg(&a, note("drf-aaaa", "drift.opened", "ingress"), false),
        );
        let tb = render(
            "K",
            &msg(&b, note("drf-bbbb", "drift.opened", "egress"), false),
        );
        assert_eq!(ta["dedup_key"], "drf-aaaa");
        assert_eq!(tb["dedup_key"], "drf-bbbb");
        assert_eq!(ta["payload"]["custom_details"]["drift_id"], "drf-aaaa");
        let rb = render(
            "K",
            &msg(&b, note("drf-bbbb", "drift.resolved", "egress"), true),
        );
        assert_eq!(rb["event_action"], "resolve");
        assert_eq!(rb["dedup_key"], tb["dedup_key"]);
        assert_ne!(
            rb["dedup_key"], ta["dedup_key"],
            "b's resolution leaves a's incident"
        );
        // An ack (no note) resolves the alert's own drift; no drift at all: the fingerprint.
        let ack = render(
            "K",
            &Message::Resolve {
                alert: Box::new(a.clone()),
                drift: None,
            },
        );
        assert_eq!(ack["dedup_key"], "drf-aaaa");
        let plain = crate::notify::sample_alert();
        assert_eq!(
            render(
                "K",
                &Message::Resolve {
                    alert: Box::new(plain.clone()),
                    drift: None
                }
            )["dedup_key"],
            fingerprint(&plain).as_str()
        );
    }
}
