//! The Markdown of issue-tracker channels (GitHub, GitLab): the issue's title and body, and the
//! comments that follow the drift (seen again, severity raised, reopened, resolved).
//!
//! Every value that comes from the cloud (ids, actors, attribute values) is put in a code span
//! or a fenced block sized to its content, so a tag value cannot @-mention people, close other
//! issues (`fixes #1`) or break the layout. The body carries the drift's hidden marker
//! ([`marker`]), by which the channel finds the issue again after a crash.

use super::{actor_line, title, truncate, value_text};
use crate::alert::Alert;
use crate::drift::{DriftNote, Reason};

/// The hidden marker naming the drift in an issue's body.
#[must_use]
pub fn marker(drift_id: &str) -> String {
    format!("<!-- tfdrift:{drift_id} -->")
}

/// `s` as an inline code span safe inside a table cell (one line, pipes escaped, a fence
/// longer than any backtick run in it).
#[must_use]
pub fn code(s: &str) -> String {
    let one_line: String = truncate(s, 300)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.replace('|', "\\|");
    let run = longest_run(&one_line, '`');
    let fence = "`".repeat(run + 1);
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{one_line}{pad}{fence}")
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for x in s.chars() {
        if x == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// A fenced block of `lang` holding `text` (the fence outgrows any backtick run in it).
#[must_use]
pub fn fenced(lang: &str, text: &str) -> String {
    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
    format!("{fence}{lang}\n{text}\n{fence}\n")
}

fn pretty(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| value_text(other)),
    }
}

/// `HIGH drift: aws_security_group.web ingress` (what the issue is about, at most 250
/// characters).
#[must_use]
pub fn issue_title(a: &Alert, note: &DriftNote) -> String {
    let what = a
        .resource
        .address
        .clone()
        .unwrap_or_else(|| format!("{} {}", a.resource.rtype, a.resource.id));
    let attr = if note.attribute.is_empty() {
        format!("({})", a.kind.as_str())
    } else {
        note.attribute.clone()
    };
    truncate(
        &format!(
            "{} drift: {what} {attr}",
            a.severity.as_str().to_ascii_uppercase()
        ),
        250,
    )
}

fn diff_section(a: &Alert) -> String {
    if a.diffs.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    for d in &a.diffs {
        text.push_str(&format!("@@ {} @@\n", d.path));
        for l in truncate(&pretty(&d.state), 4000).lines() {
            text.push_str(&format!("- {l}\n"));
        }
        for l in truncate(&pretty(&d.observed), 4000).lines() {
            text.push_str(&format!("+ {l}\n"));
        }
    }
    format!(
        "### Diff (`-` Terraform state, `+` observed)\n\n{}",
        fenced("diff", text.trim_end())
    )
}

fn remediation_section(a: &Alert) -> String {
    let mut out = String::new();
    if !a.remediation.is_empty() {
        out.push_str("### Remediation\n\n");
        out.push_str(&fenced("sh", &a.remediation.join("\n")));
    }
    if let Some(rb) = &a.runbook {
        if rb.starts_with("https://") || rb.starts_with("http://") {
            out.push_str(&format!("\nRunbook: <{}>\n", rb.replace('>', "%3E")));
        } else {
            out.push_str(&format!("\nRunbook: {}\n", code(rb)));
        }
    }
    out
}

fn table(rows: &[(&str, String)]) -> String {
    let mut out = String::from("| | |\n|---|---|\n");
    for (k, v) in rows {
        out.push_str(&format!("| **{k}** | {v} |\n"));
    }
    out
}

fn when(a: &Alert) -> String {
    a.event.time.unwrap_or(a.time).to_rfc3339()
}

/// The body of a new issue.
#[must_use]
pub fn issue_body(a: &Alert, note: &DriftNote) -> String {
    let mut where_ = format!("{} {}", code(&a.resource.rtype), code(&a.resource.id));
    if let Some(acct) = &a.event.account {
        where_.push_str(&format!(", account {}", code(acct)));
    }
    if let Some(r) = &a.event.region {
        where_.push_str(&format!(", {}", code(r)));
    }
    let rows = vec![
        (
            "Resource",
            format!(
                "{} ({where_})",
                code(a.resource.address.as_deref().unwrap_or("(not managed)"))
            ),
        ),
        ("Attribute", code(&note.attribute)),
        ("Who", code(&actor_line(a))),
        ("When", when(a)),
        (
            "Event",
            format!("{} ({})", code(&a.event.name), code(&a.event.service)),
        ),
        (
            "Drift",
            format!(
                "{} · episode {} · {} occurrence(s) · open since {}",
                code(&note.id),
                note.episode,
                note.occurrences,
                note.first_seen.to_rfc3339()
            ),
        ),
        ("Alert", code(&a.id)),
        (
            "Rules",
            a.rules
                .iter()
                .map(|r| code(r))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    let body = format!(
        "{}\n**{}** {} on {}\n\n{}\n{}\n{}\n---\n_Opened by tfdrift. Commented when the drift recurs \
         or its severity rises; closed, with the reason, when it is resolved; reopened if it recurs._\n",
        marker(&note.id),
        a.severity.as_str().to_ascii_uppercase(),
        code(a.kind.as_str()),
        code(a.resource.address.as_deref().unwrap_or(&a.resource.id)),
        table(&rows),
        diff_section(a),
        remediation_section(a),
    );
    // GitHub's limit is 65,536 characters; GitLab's is larger.
    truncate(&body, 60_000)
}

/// The comment for a drift that occurred again (`drift.occurred`), rose in severity or came
/// out of a snooze (`drift.updated`), or reopened (`reopened`).
#[must_use]
pub fn update_comment(a: &Alert, note: &DriftNote, reopened: bool) -> String {
    let head = if reopened {
        format!(
            "**Reopened**: the drift recurred (episode {}).",
            note.episode
        )
    } else if note.event == "drift.updated" {
        format!(
            "**Updated**: now **{}** ({}).",
            a.severity.as_str().to_ascii_uppercase(),
            title(a)
        )
    } else {
        "**Seen again.**".to_string()
    };
    let mut out = format!(
        "{head} Occurrence {} by {} at {} ({}; alert {}).\n\n",
        note.occurrences,
        code(&actor_line(a)),
        when(a),
        code(&a.event.name),
        code(&a.id)
    );
    out.push_str(&diff_section(a));
    if reopened {
        out.push('\n');
        out.push_str(&remediation_section(a));
    }
    truncate(&out, 60_000)
}

/// What a resolution reason means, for the closing comment.
#[must_use]
pub fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Reverted => "a later change set the attribute back to the Terraform state value",
        Reason::Applied => "Terraform changed the resource and the refreshed state agrees",
        Reason::Accepted => "the refreshed Terraform state now holds the observed value",
        Reason::Gone => "the resource was deleted, or Terraform no longer manages it",
        Reason::Reconciled => "a scheduled reconcile found the resource in line with Terraform",
        Reason::Manual => "a person resolved it in tfdrift",
    }
}

/// The comment that closes the issue.
#[must_use]
pub fn resolved_comment(note: &DriftNote) -> String {
    let reason = note.reason.map_or("resolved", Reason::as_str);
    let mut out = format!("**Resolved: {reason}**");
    if let Some(who) = &note.resolved_by {
        out.push_str(&format!(" by {}", code(who)));
    }
    if let Some(r) = note.reason {
        out.push_str(&format!(" — {}.", reason_text(r)));
    }
    out.push_str(&format!(
        "\n\nDrift {} was open since {} (episode {}, {} occurrence(s)). tfdrift reopens this \
         issue if it recurs.\n",
        code(&note.id),
        note.first_seen.to_rfc3339(),
        note.episode,
        note.occurrences
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_neutralise_markdown() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x``y"), "```x``y```");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("@org/team\nfixes #1"), "`@org/team fixes #1`");
        assert!(fenced("sh", "```\nrm").starts_with("````sh\n"));
    }

    #[test]
    fn body_has_marker_diff_and_remediation() {
        let a = crate::notify::sample_alert();
        let note = DriftNote {
            event: "drift.opened".into(),
            id: "drf-0123".into(),
            episode: 1,
            occurrences: 1,
            attribute: "ingress".into(),
            first_seen: a.time,
            reason: None,
            resolved_by: None,
        };
        let b = issue_body(&a, &note);
        assert!(b.starts_with("<!-- tfdrift:drf-0123 -->\n"), "{b}");
        assert!(b.contains("```diff\n@@ ingress @@\n- ["), "{b}");
        assert!(
            b.contains("```sh\nterraform apply -target=aws_security_group.web\n```"),
            "{b}"
        );
        assert_eq!(
            issue_title(&a, &note),
            "HIGH drift: aws_security_group.web ingress"
        );
    }
}
