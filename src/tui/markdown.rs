//! "Copy as Markdown" for the incident channel: the Now board, the filtered feed, or one alert
//! as a Markdown table. Built from what the monitor shows, which is already masked (alerts and
//! drifts carry masked values only).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::feed::{Entry, actor_label, resource_label};
use super::now::{BoardRow, DriftCells};
use crate::alert::Alert;

/// Most feed rows copied (the rest are counted in a last line).
pub const MAX_ROWS: usize = 200;

/// A cell: pipes escaped, line breaks flattened, never empty.
fn cell(s: &str) -> String {
    let s = s
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ");
    if s.trim().is_empty() { "—".into() } else { s }
}

/// A Markdown table.
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        headers.iter().map(|_| "---|").collect::<String>()
    );
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// The Now board: a heading with the counts, then one row per drift (resource rows are implied
/// by the resource column). `cells(i)` gives drift `i`'s cells and severity label.
#[must_use]
pub fn board(
    title: &str,
    rows: &[BoardRow],
    cells: &dyn Fn(usize) -> Option<(String, DriftCells)>,
) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .filter_map(|r| match r {
            BoardRow::Drift(i) => cells(*i),
            BoardRow::Resource { .. } => None,
        })
        .map(|(sev, c)| {
            vec![
                sev,
                format!("`{}`", c.resource),
                format!("`{}`", c.attribute),
                c.status,
                c.age,
                c.count,
                c.actor,
                c.why,
            ]
        })
        .collect();
    format!(
        "**{title}**\n\n{}",
        table(
            &[
                "Severity",
                "Resource",
                "Attribute",
                "Status",
                "Open for",
                "Seen",
                "Last actor",
                "Why it matters",
            ],
            &body,
        )
    )
}

/// The feed as filtered and sorted on screen (at most [`MAX_ROWS`]).
#[must_use]
pub fn feed<'a>(
    title: &str,
    entries: impl Iterator<Item = &'a Entry>,
    shown: usize,
    now: DateTime<Utc>,
) -> String {
    let body: Vec<Vec<String>> = entries
        .take(MAX_ROWS)
        .map(|e| {
            let a = &e.alert;
            vec![
                if a.time.date_naive() == now.date_naive() {
                    a.time.format("%H:%M:%S").to_string()
                } else {
                    a.time.format("%b %d %H:%M").to_string()
                },
                a.severity.as_str().to_string(),
                e.status.label().to_string(),
                format!("`{}`", resource_label(a)),
                e.why.to_string(),
                actor_label(a).to_string(),
                crate::tui::filter::via_name(a.actor.via).to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "**{title}**\n\n{}",
        table(
            &[
                "Time (UTC)",
                "Severity",
                "Status",
                "Resource",
                "Why it matters",
                "Actor",
                "Via"
            ],
            &body,
        )
    );
    if shown > body.len() {
        let _ = writeln!(out, "\n… and {} more", shown - body.len());
    }
    out
}

/// A short value for a cell.
fn value(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(79).collect::<String>())
    } else {
        s
    }
}

/// One alert as a two-column table: what, where, who, the diffs and the first fix.
#[must_use]
pub fn alert(a: &Alert, status: &str) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        vec!["Severity".into(), a.severity.as_str().into()],
        vec!["Status".into(), status.into()],
        vec!["Kind".into(), a.kind.as_str().into()],
        vec!["Resource".into(), format!("`{}`", resource_label(a))],
        vec![
            "Type / id".into(),
            format!("`{}` / `{}`", a.resource.rtype, a.resource.id),
        ],
        vec![
            "When (UTC)".into(),
            a.time.format("%Y-%m-%d %H:%M:%S").to_string(),
        ],
        vec![
            "Who".into(),
            format!(
                "{} via {}",
                actor_label(a),
                crate::tui::filter::via_name(a.actor.via)
            ),
        ],
        vec![
            "Event".into(),
            format!("{} ({})", a.event.name, a.event.service),
        ],
    ];
    let place: Vec<&str> = [a.event.account.as_deref(), a.event.region.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !place.is_empty() {
        rows.push(vec!["Account / region".into(), place.join(" / ")]);
    }
    rows.push(vec!["Why it matters".into(), super::why::why(a)]);
    for d in &a.diffs {
        rows.push(vec![
            format!("`{}`", d.path),
            format!("{} → {}", value(&d.state), value(&d.observed)),
        ]);
    }
    if let Some(c) = super::remedy::remediation_commands(a).first() {
        rows.push(vec!["Fix".into(), format!("`{}`", c.line)]);
    }
    if let Some(id) = &a.drift_id {
        rows.push(vec!["Drift".into(), id.clone()]);
    }
    rows.push(vec!["Alert".into(), a.id.clone()]);
    table(&["Field", "Value"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_flatten_lines() {
        let t = table(
            &["A", "B"],
            &[
                vec!["x|y".into(), "one\ntwo".into()],
                vec![String::new(), "z".into()],
            ],
        );
        assert_eq!(t, "| A | B |\n|---|---|\n| x\\|y | one two |\n| — | z |\n");
    }
}
