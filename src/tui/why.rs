//! "Why it matters", one line per alert for the feed: the most telling change summarised from
//! the alert's own values (`+ingress tcp/3389 0.0.0.0/0 — open to the world`), and the matching
//! rule when one raised it.

use crate::alert::{Alert, AlertKind, Diff};
use crate::enrich::remediation::sg_rule_changes;

/// A short value for a summary (`true`, `"Enabled"`, `[3 items]`).
fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "∅".into(),
        serde_json::Value::String(s) => {
            if s.chars().count() > 24 {
                format!("{}…", s.chars().take(23).collect::<String>())
            } else {
                s.clone()
            }
        }
        serde_json::Value::Array(a) => format!("[{} items]", a.len()),
        serde_json::Value::Object(o) => format!("{{{} keys}}", o.len()),
        other => other.to_string(),
    }
}

/// One diff summarised.
fn diff_summary(a: &Alert, d: &Diff) -> String {
    if a.resource.rtype == "aws_security_group"
        && let Some((added, removed)) = sg_rule_changes(d)
        && !(added.is_empty() && removed.is_empty())
    {
        if let Some(r) = added.iter().find(|r| r.is_world_open()).or(added.first()) {
            let world = if r.is_world_open() {
                " — open to the world"
            } else {
                ""
            };
            let more = if added.len() > 1 {
                format!(" (+{} more)", added.len() - 1)
            } else {
                String::new()
            };
            return format!("+{} {} {}{world}{more}", d.path, r.ports(), r.sources());
        }
        if let Some(r) = removed.first() {
            return format!("-{} {} {}", d.path, r.ports(), r.sources());
        }
    }
    format!("{}: {} → {}", d.path, short(&d.state), short(&d.observed))
}

/// Why the alert matters, in one line.
#[must_use]
pub fn why(a: &Alert) -> String {
    let what = match a.kind {
        AlertKind::ManagedResourceDeleted => "deleted outside Terraform".to_string(),
        AlertKind::UnmanagedChange => format!("not in any state: {}", a.event.name),
        AlertKind::AttributeDrift => {
            // The most telling diff: a security-group rule open to the world first.
            let best = a
                .diffs
                .iter()
                .map(|d| diff_summary(a, d))
                .max_by_key(|s| s.contains("open to the world"));
            match best {
                Some(s) if a.diffs.len() > 1 => format!("{s} (+{} attrs)", a.diffs.len() - 1),
                Some(s) => s,
                None => a.event.name.clone(),
            }
        }
    };
    match a.rules.first() {
        Some(rule) => format!("{what} · rule {rule}"),
        None => what,
    }
}
