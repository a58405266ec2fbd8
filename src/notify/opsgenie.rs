//! Opsgenie Alert API v2: `POST {base}/v2/alerts` creates an alert whose `alias` is the drift
//! id (Opsgenie deduplicates an open alert by alias: an update of the drift bumps its count),
//! and a resolution closes it with `POST {base}/v2/alerts/{alias}/close?identifierType=alias`.
//! Authenticated with `Authorization: GenieKey <key>`. The base URL is the US instance unless
//! the channel's `url` names another (`https://api.eu.opsgenie.com` for EU accounts). Field
//! limits are Opsgenie's: message 130 characters, alias and entity 512, description 15,000,
//! 20 tags.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{DIGEST_LIST, Message, actor_line, drift_line, title, truncate, value_text};
use crate::alert::{Alert, Severity};
use crate::drift::DriftNote;
use crate::store::fingerprint;

/// The US instance (default).
pub const US_URL: &str = "https://api.opsgenie.com";
/// The EU instance.
pub const EU_URL: &str = "https://api.eu.opsgenie.com";

/// Opsgenie priorities P1 (critical) … P5 (informational).
#[must_use]
pub fn priority(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "P1",
        Severity::High => "P2",
        Severity::Medium => "P3",
        Severity::Low => "P4",
        Severity::Info => "P5",
    }
}

/// The alias an alert is created and closed by: its drift, else its fingerprint.
#[must_use]
pub fn alias(a: &Alert) -> String {
    a.drift_id.clone().unwrap_or_else(|| fingerprint(a))
}

fn create(a: &Alert, repeats: u64, note: Option<&DriftNote>) -> Value {
    let mut description = format!(
        "{}\nResource: {} ({} {})\nWho: {}\nEvent: {} ({})\n",
        title(a),
        a.resource.address.as_deref().unwrap_or("(unmanaged)"),
        a.resource.rtype,
        a.resource.id,
        actor_line(a),
        a.event.name,
        a.event.service
    );
    for d in &a.diffs {
        description.push_str(&format!(
            "{}: {} -> {}\n",
            d.path,
            truncate(&value_text(&d.state), 500),
            truncate(&value_text(&d.observed), 500)
        ));
    }
    for r in &a.remediation {
        description.push_str(&format!("Remediation: {r}\n"));
    }
    if let Some(n) = note {
        description.push_str(&format!("{}\n", drift_line(n)));
    }
    if repeats > 0 {
        description.push_str(&format!(
            "Seen {repeats} more time(s) since the last notification.\n"
        ));
    }
    let mut tags = vec![
        "tfdrift".to_string(),
        a.provider.clone(),
        a.kind.as_str().to_string(),
    ];
    tags.extend(a.rules.iter().map(|r| truncate(r, 50)));
    tags.truncate(20);
    let mut details = Map::new();
    details.insert("alert_id".into(), json!(a.id));
    details.insert("resource_type".into(), json!(a.resource.rtype));
    details.insert("resource_id".into(), json!(a.resource.id));
    if let Some(addr) = &a.resource.address {
        details.insert("address".into(), json!(addr));
    }
    if let Some(n) = note {
        details.insert("drift_id".into(), json!(n.id));
        details.insert("drift_event".into(), json!(n.event));
        details.insert("occurrences".into(), json!(n.occurrences.to_string()));
    }
    if let Some(rb) = &a.runbook {
        details.insert("runbook".into(), json!(truncate(rb, 500)));
    }
    json!({
        "message": truncate(&title(a), 130),
        "alias": truncate(&alias(a), 512),
        "description": truncate(&description, 15_000),
        "tags": tags,
        "details": details,
        "entity": truncate(a.resource.address.as_deref().unwrap_or(&a.resource.id), 512),
        "source": "tfdrift",
        "priority": priority(a.severity),
    })
}

/// The request for a message: (URL under `base`, JSON body).
#[must_use]
pub fn request(base: &str, msg: &Message) -> (String, Value) {
    let base = base.trim_end_matches('/');
    match msg {
        Message::Alert {
            alert,
            repeats,
            drift,
        } => (
            format!("{base}/v2/alerts"),
            create(alert, *repeats, drift.as_ref()),
        ),
        Message::Resolve { alert, drift } => {
            let note = drift.as_ref().map_or_else(
                || "acknowledged in tfdrift".to_string(),
                DriftNote::resolution_line,
            );
            (
                format!(
                    "{base}/v2/alerts/{}/close?identifierType=alias",
                    utf8_percent_encode(&alias(alert), NON_ALPHANUMERIC)
                ),
                json!({"source": "tfdrift", "user": "tfdrift", "note": truncate(&note, 25_000)}),
            )
        }
        Message::Digest { alerts } => {
            let top = alerts.iter().map(|a| a.severity).max().unwrap_or_default();
            let names: Vec<String> = alerts.iter().take(DIGEST_LIST).map(title).collect();
            (
                format!("{base}/v2/alerts"),
                json!({
                    "message": truncate(&format!("{} drift alerts held back by the tfdrift rate limit", alerts.len()), 130),
                    "alias": "tfdrift-rate-limit-digest",
                    "description": truncate(&names.join("\n"), 15_000),
                    "tags": ["tfdrift", "digest"],
                    "source": "tfdrift",
                    "priority": priority(top),
                }),
            )
        }
    }
}
