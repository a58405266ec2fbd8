//! "Why it matters", one line per alert for the feed: the most telling change summarised from
//! the alert's own values (`+ingress tcp/3389 0.0.0.0/0 — open to the world`), and the matching
//! rule when one raised it; and the same for a drift, from its own state and observed values.

use crate::alert::{Alert, AlertKind, Diff};
use crate::drift::Drift;
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

/// One diff of a resource of type `rtype` summarised.
fn diff_summary(rtype: &str, d: &Diff) -> String {
    if rtype == "aws_security_group"
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
                .map(|d| diff_summary(&a.resource.rtype, d))
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

/// Why a drift matters, in one line: like [`why`] for its latest alert, from the drift's own
/// state and observed values (so it needs no alert in memory).
#[must_use]
pub fn drift_why(d: &Drift) -> String {
    let what = if d.kind == AlertKind::ManagedResourceDeleted.as_str() {
        "deleted outside Terraform".to_string()
    } else if d.kind == AlertKind::UnmanagedChange.as_str() {
        "not in any state".to_string()
    } else {
        let diff = Diff {
            path: d.attribute.clone(),
            state: d.state_value.clone(),
            observed: d.observed.clone(),
        };
        diff_summary(&d.rtype, &diff)
    };
    match d.rules.first() {
        Some(rule) => format!("{what} · rule {rule}"),
        None => what,
    }
}
