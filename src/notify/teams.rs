//! Microsoft Teams (a Workflows webhook, or a legacy incoming webhook): one message with an
//! Adaptive Card (schema 1.4) — severity, resource, diff, who, remediation, runbook link. A
//! webhook cannot edit an earlier card, so a resolution is a second card that names the drift
//! and says how it ended.

use serde_json::{Value, json};

use super::{
    DIGEST_LIST, Message, actor_line, drift_line, resolved_title, title, truncate, value_text,
};
use crate::alert::{Alert, Severity};
use crate::drift::DriftNote;

/// Diff rows shown before "… and N more".
const MAX_DIFF_ROWS: usize = 15;

/// Adaptive Card text colour by severity.
fn colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "attention",
        Severity::Medium | Severity::Low => "warning",
        Severity::Info => "accent",
    }
}

fn text(t: &str) -> Value {
    json!({"type": "TextBlock", "text": truncate(t, 2000), "wrap": true})
}

fn card(a: &Alert, head: &str, head_colour: &str, note: Option<&DriftNote>, repeats: u64) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": truncate(head, 400), "weight": "bolder", "size": "medium", "color": head_colour, "wrap": true}),
        json!({"type": "FactSet", "facts": [
            {"title": "Resource", "value": truncate(a.resource.address.as_deref().unwrap_or("(unmanaged)"), 400)},
            {"title": "Type / id", "value": truncate(&format!("{} {}", a.resource.rtype, a.resource.id), 400)},
            {"title": "Who", "value": truncate(&actor_line(a), 400)},
            {"title": "Event", "value": truncate(&format!("{} ({})", a.event.name, a.event.service), 400)},
            {"title": "Severity", "value": a.severity.as_str()},
        ]}),
    ];
    if !a.diffs.is_empty() {
        let mut rows: Vec<String> = a
            .diffs
            .iter()
            .take(MAX_DIFF_ROWS)
            .map(|d| {
                format!(
                    "- `{}`: `{}` → `{}`",
                    d.path,
                    truncate(&value_text(&d.state), 200),
                    truncate(&value_text(&d.observed), 200)
                )
            })
            .collect();
        if a.diffs.len() > MAX_DIFF_ROWS {
            rows.push(format!("- … and {} more", a.diffs.len() - MAX_DIFF_ROWS));
        }
        body.push(text(&rows.join("\n")));
    }
    if !a.remediation.is_empty() {
        let steps: Vec<String> = a.remediation.iter().map(|r| format!("- `{r}`")).collect();
        body.push(text(&format!("**Remediation**\n{}", steps.join("\n"))));
    }
    if let Some(n) = note {
        body.push(json!({"type": "TextBlock", "text": truncate(&drift_line(n), 1000), "isSubtle": true, "wrap": true}));
    }
    if repeats > 0 {
        body.push(text(&format!(
            "Seen {repeats} more time(s) since the last notification."
        )));
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(rb) = a.runbook.as_deref().filter(|r| r.starts_with("http")) {
        content["actions"] = json!([{"type": "Action.OpenUrl", "title": "Runbook", "url": rb}]);
    }
    message(content)
}

fn message(content: Value) -> Value {
    let mut m = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
        }],
    });
    m["attachments"][0]["content"] = content;
    m
}

/// The webhook body for a message.
#[must_use]
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Alert {
            alert,
            repeats,
            drift,
        } => card(
            alert,
            &title(alert),
            colour(alert.severity),
            drift.as_ref(),
            *repeats,
        ),
        Message::Resolve { alert, drift } => card(
            alert,
            &resolved_title(alert, drift.as_ref()),
            "good",
            drift.as_ref(),
            0,
        ),
        Message::Digest { alerts } => {
            let mut lines: Vec<String> = alerts
                .iter()
                .take(DIGEST_LIST)
                .map(|a| format!("- {}", title(a)))
                .collect();
            if alerts.len() > DIGEST_LIST {
                lines.push(format!("- … and {} more", alerts.len() - DIGEST_LIST));
            }
            message(json!({
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "weight": "bolder", "wrap": true,
                     "text": format!("{} drift alerts held back by the rate limit", alerts.len())},
                    text(&lines.join("\n")),
                ],
            }))
        }
    }
}
