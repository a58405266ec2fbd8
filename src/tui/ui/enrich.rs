//! Enrichment: who made the change and how, tags and owner, and honest placeholders for what
//! the enrichment stage does not provide yet (history, blast radius).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::feed::via_label;
use crate::alert::Alert;
use crate::tui::app::{App, remediation_command};
use crate::tui::diff::value_text;

fn kv(app: &App, k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {k:<15} "), app.theme.muted),
        Span::raw(v.into()),
    ])
}

fn section(app: &App, title: &str) -> Line<'static> {
    Line::styled(title.to_string(), app.theme.header)
}

fn not_configured(app: &App, k: &str, why: &str) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {k:<15} "), app.theme.muted),
        Span::styled(format!("not configured yet ({why})"), app.theme.muted),
    ])
}

/// Tag keys that name an owner, in order of preference.
const OWNER_KEYS: &[&str] = &[
    "owner",
    "Owner",
    "team",
    "Team",
    "owner_email",
    "contact",
    "Contact",
];

/// Tags (AWS) or labels (GCP) of the resource as the state records them.
fn state_tags(app: &App, a: &Alert) -> Option<(String, Vec<(String, String)>)> {
    let state = app.meta.state.as_ref()?;
    let r = state.by_address(a.resource.address.as_deref()?)?;
    let map = ["tags", "labels"]
        .iter()
        .find_map(|k| r.attributes.get(*k).and_then(|v| v.as_object()))?;
    let tags = map
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    // The last three path parts name the state well enough and keep the line short.
    let parts: Vec<&str> = r.state_file.rsplit('/').take(3).collect();
    let file = if parts.len() == 3 {
        format!(
            "…/{}",
            parts.into_iter().rev().collect::<Vec<_>>().join("/")
        )
    } else {
        r.state_file.to_string()
    };
    Some((file, tags))
}

fn diff_tags(a: &Alert) -> Vec<(String, String)> {
    a.diffs
        .iter()
        .filter(|d| {
            d.path == "tags"
                || d.path.starts_with("tags.")
                || d.path == "labels"
                || d.path.starts_with("labels.")
        })
        .map(|d| {
            (
                d.path.clone(),
                format!("{} → {}", value_text(&d.state), value_text(&d.observed)),
            )
        })
        .collect()
}

/// Lines of the enrichment pane (also used by tests).
#[must_use]
pub fn lines(app: &App, a: &Alert) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    out.push(section(app, "Resource"));
    out.push(kv(
        app,
        "address",
        a.resource
            .address
            .clone()
            .unwrap_or_else(|| "— (unmanaged)".into()),
    ));
    out.push(kv(
        app,
        "type / id",
        format!("{} {}", a.resource.rtype, a.resource.id),
    ));
    out.push(kv(
        app,
        "event",
        format!(
            "{} ({}) {} {} account {}",
            a.event.name,
            a.event.service,
            a.time.format("%Y-%m-%d %H:%M:%S UTC"),
            a.event.region.as_deref().unwrap_or("-"),
            a.event.account.as_deref().unwrap_or("-")
        ),
    ));
    out.push(section(app, "Identity"));
    let act = &a.actor;
    let who = act
        .email
        .clone()
        .or_else(|| act.session.clone())
        .or_else(|| act.principal.clone())
        .unwrap_or_else(|| "unknown".into());
    out.push(kv(app, "who", who));
    out.push(kv(
        app,
        "identity type",
        act.identity_type.clone().unwrap_or_else(|| "-".into()),
    ));
    if let Some(s) = &act.session {
        out.push(kv(app, "session", s.clone()));
    }
    out.push(kv(
        app,
        "role / ARN",
        act.arn.clone().unwrap_or_else(|| "-".into()),
    ));
    out.push(kv(
        app,
        "via",
        format!(
            "{}  ({})",
            via_label(act.via),
            act.user_agent.as_deref().unwrap_or("no user agent")
        ),
    ));
    out.push(kv(
        app,
        "source IP",
        act.source_ip.clone().unwrap_or_else(|| "-".into()),
    ));
    out.push(kv(app, "MFA", "unknown (not carried in alerts yet)"));
    out.push(section(app, "Tags and owner"));
    let from_state = state_tags(app, a);
    let mut owner = None;
    match &from_state {
        Some((file, tags)) if !tags.is_empty() => {
            for (k, v) in tags {
                out.push(kv(app, &format!("tag {k}"), v.clone()));
            }
            out.push(kv(app, "from state", file.clone()));
            owner = OWNER_KEYS
                .iter()
                .find_map(|k| tags.iter().find(|(tk, _)| tk == k))
                .map(|(k, v)| format!("{v} (tag {k})"));
        }
        _ => out.push(not_configured(
            app,
            "tags",
            if a.resource.address.is_some() {
                "no tags or labels in the state"
            } else {
                "unmanaged: no state to read them from"
            },
        )),
    }
    for (k, v) in diff_tags(a) {
        out.push(kv(app, &format!("changed {k}"), v));
    }
    match owner {
        Some(o) => out.push(kv(app, "owner", o)),
        None => out.push(not_configured(
            app,
            "owner",
            "no owner/team tag; owner mapping not configured",
        )),
    }
    out.push(section(app, "Context"));
    out.push(not_configured(
        app,
        "7-day history",
        "needs the alert store",
    ));
    out.push(not_configured(
        app,
        "blast radius",
        "needs the dependency graph enrichment",
    ));
    out.push(section(app, "Remediation (c copies the command)"));
    out.push(kv(app, "command", remediation_command(a)));
    for r in &a.remediation {
        out.push(kv(app, "rule step", r.clone()));
    }
    if a.resource.address.is_some() {
        out.push(kv(
            app,
            "or accept",
            format!(
                "terraform apply -refresh-only -target='{}' (then update the code)",
                a.resource.address.as_deref().unwrap_or_default()
            ),
        ));
    }
    if let Some(rb) = a.runbook.as_deref().filter(|s| !s.is_empty()) {
        out.push(kv(app, "runbook", rb.to_string()));
    }
    out.push(kv(
        app,
        "rules",
        if a.rules.is_empty() {
            "none matched (profile default severity)".to_string()
        } else {
            a.rules.join(", ")
        },
    ));
    out.push(kv(app, "alert id", a.id.clone()));
    out
}

/// Draws the enrichment of the selected alert.
pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(a) = app.selected() else {
        f.render_widget(
            Paragraph::new("No alert selected.").style(app.theme.muted),
            area,
        );
        return;
    };
    let mut l = lines(app, a);
    if let Some(e) = app.selected_index().and_then(|i| app.feed.entry(i)) {
        l.insert(
            0,
            Line::from(vec![
                Span::styled("Status ", app.theme.header),
                Span::raw(format!(
                    "{}  (in memory only: not persisted yet)",
                    e.status.label()
                )),
            ]),
        );
    }
    f.render_widget(
        Paragraph::new(l)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        area,
    );
}
