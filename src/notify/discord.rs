//! Discord webhook: one embed, coloured by severity, within Discord's limits (title 256,
//! description 4096, 25 fields of 1024).

use serde_json::{Value, json};

use super::{
    DIGEST_LIST, Message, actor_line, drift_line, resolved_title, title, truncate, value_text,
};
use crate::alert::{Alert, Severity};

/// Embed colour by severity.
#[must_use]
pub fn colour(s: Severity) -> u32 {
    match s {
        Severity::Critical => 0x00B0_0020,
        Severity::High => 0x00E0_4030,
        Severity::Medium => 0x00F0_A020,
        Severity::Low => 0x00E0_D040,
        Severity::Info => 0x0040_80E0,
    }
}

fn embed(a: &Alert, repeats: u64, resolved: bool) -> Value {
    let mut fields = vec![
        json!({"name": "Resource", "value": truncate(&format!("`{}`\n{} `{}`", a.resource.address.as_deref().unwrap_or("(unmanaged)"), a.resource.rtype, a.resource.id), 1024), "inline": false}),
        json!({"name": "Who", "value": truncate(&actor_line(a), 1024), "inline": true}),
        json!({"name": "Event", "value": truncate(&a.event.name, 1024), "inline": true}),
    ];
    for d in a.diffs.iter().take(15) {
        fields.push(json!({"name": truncate(&d.path, 256), "value": truncate(&format!("state: `{}`\nobserved: `{}`", truncate(&value_text(&d.state), 400), truncate(&value_text(&d.observed), 400)), 1024), "inline": false}));
    }
    if let Some(rb) = &a.runbook {
        fields.push(json!({"name": "Runbook", "value": truncate(rb, 1024), "inline": false}));
    }
    fields.truncate(25);
    let mut desc = a
        .remediation
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join("\n");
    if repeats > 0 {
        desc.push_str(&format!(
            "\nSeen {repeats} more time(s) since the last notification."
        ));
    }
    let t = if resolved {
        format!("Resolved: {}", title(a))
    } else {
        title(a)
    };
    json!({
        "title": truncate(&t, 256),
        "description": truncate(&desc, 4096),
        "color": colour(a.severity),
        "fields": fields,
        "timestamp": a.time.to_rfc3339(),
        "footer": {"text": truncate(&format!("tfdrift alert {}", a.id), 2048)},
    })
}

/// The webhook body for a message.
#[must_use]
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Alert {
            alert,
            repeats,
            drift,
        } => {
            let mut e = embed(alert, *repeats, false);
            if let Some(n) = drift {
                e["footer"] = json!({"text": truncate(&format!("{} · alert {}", drift_line(n), alert.id), 2048)});
            }
            json!({"embeds": [e]})
        }
        Message::Resolve { alert, drift } => {
            let mut e = embed(alert, 0, true);
            if let Some(n) = drift {
                e["title"] = json!(truncate(&resolved_title(alert, Some(n)), 256));
                e["description"] = json!(truncate(&drift_line(n), 4096));
            }
            json!({"embeds": [e]})
        }
        Message::Digest { alerts } => {
            let mut lines: Vec<String> = alerts
                .iter()
                .take(DIGEST_LIST)
                .map(|a| format!("• {}", title(a)))
                .collect();
            if alerts.len() > DIGEST_LIST {
                lines.push(format!("… and {} more", alerts.len() - DIGEST_LIST));
            }
            let top = alerts.iter().map(|a| a.severity).max().unwrap_or_default();
            json!({"embeds": [{
                "title": format!("{} drift alerts held back by the rate limit", alerts.len()),
                "description": truncate(&lines.join("\n"), 4096),
                "color": colour(top),
            }]})
        }
    }
}
