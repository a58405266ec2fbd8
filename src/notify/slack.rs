//! Slack incoming webhook: Block Kit with a severity header, the resource, a diff table, actor
//! and via, runbook and remediation. Within Slack's limits: at most 50 blocks, 3000 characters
//! per text object, 150 per header.

use serde_json::{Value, json};

use super::{
    DIGEST_LIST, Message, actor_line, drift_line, resolved_title, title, truncate, value_text,
};
use crate::alert::{Alert, Severity};
use crate::drift::DriftNote;

/// Slack's block limit per message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit on a section's text.
pub const MAX_TEXT: usize = 3000;
/// Slack's limit on a header's text.
const MAX_HEADER: usize = 150;
/// Diff rows shown before "… and N more".
const MAX_DIFF_ROWS: usize = 20;

fn emoji(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":rotating_light:",
        Severity::High => ":red_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::Low => ":large_yellow_circle:",
        Severity::Info => ":information_source:",
    }
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

fn diff_table(a: &Alert) -> Option<String> {
    if a.diffs.is_empty() {
        return None;
    }
    let mut t = String::from("```\n");
    for d in a.diffs.iter().take(MAX_DIFF_ROWS) {
        t.push_str(&format!(
            "{}\n  state:    {}\n  observed: {}\n",
            d.path,
            truncate(&value_text(&d.state), 300),
            truncate(&value_text(&d.observed), 300)
        ));
    }
    if a.diffs.len() > MAX_DIFF_ROWS {
        t.push_str(&format!("… and {} more\n", a.diffs.len() - MAX_DIFF_ROWS));
    }
    // Keep the closing fence inside the limit.
    let mut t = truncate(&t, MAX_TEXT - 4);
    t.push_str("```");
    Some(t)
}

/// Blocks for one alert.
fn alert_blocks(a: &Alert, repeats: u64, resolved: bool) -> Vec<Value> {
    let head = if resolved {
        format!("Resolved: {}", title(a))
    } else {
        format!("{} {}", emoji(a.severity), title(a))
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&head, MAX_HEADER), "emoji": true}}),
    ];
    let address = a.resource.address.as_deref().unwrap_or("(unmanaged)");
    blocks.push(json!({"type": "section", "fields": [
        {"type": "mrkdwn", "text": truncate(&format!("*Resource*\n`{address}`\n{} `{}`", a.resource.rtype, a.resource.id), 2000)},
        {"type": "mrkdwn", "text": truncate(&format!("*Who*\n{}", actor_line(a)), 2000)},
        {"type": "mrkdwn", "text": truncate(&format!("*Event*\n{} ({})", a.event.name, a.event.service), 2000)},
        {"type": "mrkdwn", "text": truncate(&format!("*Where*\n{} {}", a.provider, a.event.account.as_deref().unwrap_or("")), 2000)},
    ]}));
    if let Some(t) = diff_table(a) {
        blocks.push(section(&t));
    }
    if !a.remediation.is_empty() {
        let steps: Vec<String> = a.remediation.iter().map(|r| format!("• `{r}`")).collect();
        blocks.push(section(&format!("*Remediation*\n{}", steps.join("\n"))));
    }
    if let Some(rb) = &a.runbook {
        blocks.push(section(&format!("*Runbook*: {rb}")));
    }
    let mut ctx = format!("alert `{}` · {}", a.id, a.time.to_rfc3339());
    if repeats > 0 {
        ctx.push_str(&format!(
            " · seen {repeats} more time(s) since the last notification"
        ));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&ctx, MAX_TEXT)}]}));
    blocks
}

/// A context block naming the drift (a resolution names the drift of the original message).
fn with_drift(mut blocks: Vec<Value>, note: Option<&DriftNote>) -> Vec<Value> {
    if let Some(n) = note {
        blocks.insert(
            1.min(blocks.len()),
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&drift_line(n), MAX_TEXT)}]}),
        );
    }
    blocks
}

/// The webhook body for a message.
#[must_use]
pub fn render(msg: &Message) -> Value {
    let (text, mut blocks) = match msg {
        Message::Alert {
            alert,
            repeats,
            drift,
        } => (
            title(alert),
            with_drift(alert_blocks(alert, *repeats, false), drift.as_ref()),
        ),
        Message::Resolve { alert, drift } => {
            let head = resolved_title(alert, drift.as_ref());
            let mut blocks = alert_blocks(alert, 0, true);
            if let Some(b) = blocks.first_mut() {
                *b = json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&head, MAX_HEADER), "emoji": true}});
            }
            (head, with_drift(blocks, drift.as_ref()))
        }
        Message::Digest { alerts } => {
            let head = format!("{} drift alerts held back by the rate limit", alerts.len());
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&head, MAX_HEADER)}}),
            ];
            let mut lines: Vec<String> = alerts
                .iter()
                .take(DIGEST_LIST)
                .map(|a| format!("• {}", title(a)))
                .collect();
            if alerts.len() > DIGEST_LIST {
                lines.push(format!(
                    "… and {} more (see `tfdrift` or the alert log)",
                    alerts.len() - DIGEST_LIST
                ));
            }
            blocks.push(section(&lines.join("\n")));
            (head, blocks)
        }
    };
    blocks.truncate(MAX_BLOCKS);
    json!({"text": truncate(&text, MAX_TEXT), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Diff;

    #[test]
    fn stays_within_slack_limits() {
        let mut a = super::super::sample_alert();
        a.diffs = (0..500)
            .map(|i| Diff {
                path: format!("tags.k{i}"),
                state: json!("x".repeat(400)),
                observed: json!(i),
            })
            .collect();
        a.remediation = vec!["y".repeat(5000)];
        let v = render(&Message::Alert {
            alert: Box::new(a),
            repeats: 3,
            drift: None,
        });
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_TEXT, "{}", t.len());
            }
        }
        assert!(v.to_string().contains("seen 3 more"));
        assert!(blocks[0]["text"]["text"].as_str().unwrap().contains("HIGH"));
    }
}
