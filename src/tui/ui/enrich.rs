//! Enrichment: who made the change and how, whose resource it is, what else changed lately,
//! what depends on it and how to put it back — from the alert's `enrichment` and `remediation`.
//! "not configured" appears only where the data is truly absent.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget as _, Wrap};

use super::feed::via_label;
use crate::alert::{Alert, HistoryItem, Via};
use crate::tui::app::App;
use crate::tui::diff::value_text;

/// History items listed per list; the rest are counted.
const MAX_LISTED: usize = 5;
/// Dependents listed; the rest are counted.
const MAX_DEPENDENTS: usize = 8;

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
        Span::styled(format!("not configured ({why})"), app.theme.muted),
    ])
}

fn muted_kv(app: &App, k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {k:<15} "), app.theme.muted),
        Span::styled(v.into(), app.theme.muted),
    ])
}

/// Tags (AWS) or labels (GCP) of the resource as the state records them (alerts recorded
/// before enrichment carried tags).
fn state_tags(app: &App, a: &Alert) -> Option<(String, Vec<(String, String)>)> {
    let state = app.meta.state.as_ref()?;
    let r = state.by_address(a.resource.address.as_deref()?)?;
    let map = ["tags", "labels"]
        .iter()
        .find_map(|k| r.attributes.get(*k).and_then(|v| v.as_object()))?;
    let mut tags: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    crate::mask::mask_state_tags(&mut tags, &r.sensitive_paths);
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

/// The 7-day counts drawn by a ratatui [`Sparkline`] into a one-line buffer, as text (so it
/// scrolls and wraps with the rest of the pane). Days without changes show `·`.
#[must_use]
pub fn sparkline_text(days: &[u32; 7]) -> String {
    let area = Rect::new(0, 0, 7, 1);
    let mut buf = Buffer::empty(area);
    let max = days.iter().copied().max().unwrap_or(0).max(1);
    Sparkline::default()
        .data(days.iter().map(|d| u64::from(*d)))
        .max(u64::from(max))
        .render(area, &mut buf);
    (0..7)
        .map(|x| {
            let s = buf[(x, 0)].symbol();
            if s.trim().is_empty() { "·" } else { s }.to_string()
        })
        .collect()
}

fn identity(app: &App, a: &Alert, out: &mut Vec<Line<'static>>) {
    out.push(section(app, "Identity"));
    let id = &a.enrichment.identity;
    let act = &a.actor;
    if id.kind.is_empty() && id.display.is_empty() {
        // Recorded before enrichment: what the event itself said.
        let who = act
            .email
            .clone()
            .or_else(|| act.session.clone())
            .or_else(|| act.principal.clone())
            .unwrap_or_else(|| "unknown".into());
        out.push(kv(app, "who", who));
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
        out.push(not_configured(
            app,
            "identity",
            "alert recorded before enrichment",
        ));
        return;
    }
    let kind = id.kind.replace('_', " ");
    out.push(kv(
        app,
        "human",
        match &id.human {
            Some(h) => format!("{h}  ({kind})"),
            None => format!("— (no person: {kind})"),
        },
    ));
    out.push(kv(app, "summary", id.display.clone()));
    let role = match (&id.role, &id.account) {
        (Some(r), Some(acct)) => format!("{r}  (account {acct})"),
        (Some(r), None) => r.clone(),
        (None, Some(acct)) => format!("—  (account {acct})"),
        (None, None) => "—".into(),
    };
    out.push(kv(app, "role", role));
    if let Some(s) = &act.session {
        out.push(kv(app, "session", s.clone()));
    }
    if let Some(arn) = &act.arn {
        out.push(kv(app, "ARN", arn.clone()));
    }
    if let Some(by) = &id.invoked_by {
        out.push(kv(app, "invoked by", by.clone()));
    }
    if !id.delegation.is_empty() {
        out.push(kv(app, "delegation", id.delegation.join(" → ")));
    }
    let via = if id.via == Via::Unknown {
        act.via
    } else {
        id.via
    };
    let mut how = via_label(via).to_string();
    if let Some(t) = &id.tool {
        how.push_str(" · tool ");
        how.push_str(t);
    }
    if let Some(l) = &id.sdk_language {
        how.push_str(" · SDK ");
        how.push_str(l);
    }
    out.push(kv(app, "via", how));
    if let Some(ua) = &act.user_agent {
        out.push(muted_kv(app, "user agent", ua.clone()));
    }
    let ip = id.source_ip.clone().or_else(|| act.source_ip.clone());
    out.push(kv(
        app,
        "source IP",
        match (ip, id.source_kind.as_str()) {
            (Some(ip), "") => ip,
            (Some(ip), kind) => format!("{ip}  ({kind})"),
            (None, "") => "—".into(),
            (None, kind) => format!("—  ({kind})"),
        },
    ));
    out.push(match id.mfa {
        Some(true) => kv(app, "MFA", "yes"),
        Some(false) => Line::from(vec![
            Span::styled(format!("  {:<15} ", "MFA"), app.theme.muted),
            Span::styled("no", app.theme.error),
        ]),
        None => muted_kv(app, "MFA", "unknown (the event does not say)"),
    });
}

fn ownership(app: &App, a: &Alert, out: &mut Vec<Line<'static>>) {
    out.push(section(app, "Owner and tags"));
    let e = &a.enrichment;
    let fields = [
        ("owner", &e.owner),
        ("team", &e.team),
        ("env", &e.environment),
        ("cost centre", &e.cost_center),
    ];
    if fields.iter().all(|(_, v)| v.is_none()) {
        out.push(not_configured(
            app,
            "owner",
            "no owner, team, environment or cost-centre tag; keys from `enrich.tag_keys`",
        ));
    } else {
        let mut spans = vec![Span::styled(format!("  {:<15} ", "owner"), app.theme.muted)];
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" · ", app.theme.muted));
            }
            match v {
                Some(v) if i == 0 => spans.push(Span::raw(v.clone())),
                Some(v) => {
                    spans.push(Span::styled(format!("{k} "), app.theme.muted));
                    spans.push(Span::raw(v.clone()));
                }
                None => spans.push(Span::styled(format!("{k} —"), app.theme.muted)),
            }
        }
        out.push(Line::from(spans));
    }
    let tag_line = |tags: &[(String, String)]| {
        tags.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    if e.tags.is_empty() {
        match state_tags(app, a) {
            Some((file, tags)) if !tags.is_empty() => {
                out.push(kv(app, "tags", tag_line(&tags)));
                out.push(muted_kv(app, "from state", file));
            }
            _ => out.push(not_configured(
                app,
                "tags",
                if a.resource.address.is_some() {
                    "no tags or labels on the resource"
                } else {
                    "unmanaged: no state and none in the request"
                },
            )),
        }
    } else {
        let tags: Vec<(String, String)> =
            e.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.push(kv(app, "tags", tag_line(&tags)));
    }
    for (k, v) in diff_tags(a) {
        out.push(kv(app, &format!("changed {k}"), v));
    }
}

fn ago(app: &App, t: chrono::DateTime<chrono::Utc>) -> String {
    let s = (app.now - t).num_seconds();
    if s < 0 {
        t.format("%m-%d %H:%M").to_string()
    } else if s < 3600 {
        format!("{}m ago", s / 60)
    } else if s < 86_400 {
        format!("{}h ago", s / 3600)
    } else {
        format!("{}d ago", s / 86_400)
    }
}

/// Lists the first few `items`; `total` is how many there are in all (the alert carries only
/// the newest; the day counts cover the rest).
fn history_lines(
    app: &App,
    label: &str,
    (items, total): (&[HistoryItem], usize),
    what: impl Fn(&HistoryItem) -> String,
    out: &mut Vec<Line<'static>>,
) {
    for (i, h) in items.iter().take(MAX_LISTED).enumerate() {
        out.push(Line::from(vec![
            Span::styled(
                format!("  {:<15} ", if i == 0 { label } else { "" }),
                app.theme.muted,
            ),
            Span::styled(format!("{:<8} ", ago(app, h.time)), app.theme.muted),
            Span::raw(what(h)),
        ]));
    }
    let total = total.max(items.len());
    if total > MAX_LISTED {
        out.push(muted_kv(app, "", format!("… {} more", total - MAX_LISTED)));
    }
}

fn context(app: &App, a: &Alert, out: &mut Vec<Line<'static>>) {
    out.push(section(app, "History (7 days)"));
    let h = &a.enrichment.history;
    let total: u32 = h.days.iter().sum();
    if total == 0 && h.recent.is_empty() && h.actor_recent.is_empty() && app.meta.store.is_none() {
        out.push(not_configured(
            app,
            "history",
            "no store: set `store:` in the profile",
        ));
    } else {
        out.push(Line::from(vec![
            Span::styled(format!("  {:<15} ", "changes/day"), app.theme.muted),
            Span::styled(sparkline_text(&h.days), app.theme.header),
            Span::raw(format!(
                "  {total}{} earlier change{} in 7 days (oldest day left, alert day right)",
                if h.capped { "+" } else { "" },
                if total == 1 { "" } else { "s" }
            )),
        ]));
        if h.recent.is_empty() {
            out.push(muted_kv(
                app,
                "recent",
                "no earlier changes to this resource",
            ));
        }
        history_lines(
            app,
            "recent",
            (&h.recent, total as usize),
            |i| {
                format!(
                    "{} {} by {}",
                    i.event_name,
                    i.kind,
                    i.actor.as_deref().unwrap_or("unknown")
                )
            },
            out,
        );
        if h.actor_recent.is_empty() {
            out.push(muted_kv(
                app,
                "actor also",
                "no other changes by this identity",
            ));
        }
        history_lines(
            app,
            "actor also",
            (&h.actor_recent, h.actor_recent.len()),
            |i| {
                format!(
                    "{} on {}",
                    i.event_name,
                    i.address.as_deref().unwrap_or(&i.resource)
                )
            },
            out,
        );
    }
    out.push(section(app, "Blast radius"));
    let b = &a.enrichment.blast_radius;
    if a.resource.address.is_none() {
        out.push(muted_kv(
            app,
            "dependents",
            "— unmanaged: not in the dependency graph",
        ));
    } else if b.count == 0 {
        out.push(kv(
            app,
            "dependents",
            "0 (nothing in the loaded state depends on it)",
        ));
    } else {
        out.push(kv(
            app,
            "dependents",
            format!(
                "{} resource{}, depth {}",
                b.count,
                if b.count == 1 { "" } else { "s" },
                b.max_depth
            ),
        ));
        for d in b.dependents.iter().take(MAX_DEPENDENTS) {
            out.push(kv(app, "", format!("← {d}")));
        }
        if b.dependents.len() > MAX_DEPENDENTS {
            out.push(muted_kv(
                app,
                "",
                format!("… {} more", b.dependents.len() - MAX_DEPENDENTS),
            ));
        }
    }
}

/// What a remediation line does: `restore`, `accept`, `import`, `note` (enrichment's lines,
/// recognised by their comments) or `rule` (a matched rule's own step).
#[must_use]
pub fn remediation_label(line: &str) -> &'static str {
    let comment = line.split_once('#').map_or("", |(_, c)| c.trim());
    let code = line.split_once('#').map_or(line, |(c, _)| c).trim();
    if code.is_empty() && !comment.is_empty() {
        "note"
    } else if comment.starts_with("restore") || comment.starts_with("recreate") {
        "restore"
    } else if comment.starts_with("accept") {
        "accept"
    } else if code.starts_with("import {") || code.contains("-generate-config-out") {
        "import"
    } else {
        "rule"
    }
}

fn remediation(app: &App, a: &Alert, out: &mut Vec<Line<'static>>) {
    out.push(section(
        app,
        "Remediation (commands numbered at the top: c copies 1, c2…c5 the others)",
    ));
    for r in &a.remediation {
        let label = remediation_label(r);
        for (i, l) in r.lines().enumerate() {
            let (code, comment) = match l.split_once("   #") {
                Some((c, m)) => (c.to_string(), format!("   #{m}")),
                None => (l.to_string(), String::new()),
            };
            out.push(Line::from(vec![
                Span::styled(
                    format!("  {:<15} ", if i == 0 { label } else { "" }),
                    app.theme.muted,
                ),
                Span::raw(code),
                Span::styled(comment, app.theme.muted),
            ]));
        }
    }
    if a.remediation.is_empty() {
        out.push(not_configured(app, "steps", "no rule or enrichment step"));
    }
    if let Some(rb) = a.runbook.as_deref().filter(|s| !s.is_empty()) {
        out.push(kv(app, "runbook", rb.to_string()));
    } else {
        out.push(not_configured(
            app,
            "runbook",
            "no matched rule sets `runbook`",
        ));
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
    identity(app, a, &mut out);
    ownership(app, a, &mut out);
    context(app, a, &mut out);
    remediation(app, a, &mut out);
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
    let l = lines(app, a);
    let scroll = super::clamp_scroll(&l, area, true, app.detail_scroll);
    f.render_widget(
        Paragraph::new(l)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
