//! The detail pane: tab bar, then the diff, enrichment, rule editor or log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tracing::Level;

use crate::tui::app::{App, Focus, Tab, View, remediation_commands};
use crate::tui::feed::Status;

fn tabs_title(app: &App) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, t) in Tab::ALL.iter().enumerate() {
        let label = format!("{} {}", i + 1, t.title());
        if *t == app.tab {
            spans.push(Span::styled(
                format!("[{label}]"),
                app.theme.header.add_modifier(Modifier::REVERSED),
            ));
        } else {
            spans.push(Span::styled(format!(" {label} "), app.theme.muted));
        }
        spans.push(Span::raw(" "));
    }
    if app.tab == Tab::Diff {
        spans.push(Span::styled(
            if app.unified {
                "· unified (u) "
            } else {
                "· side by side (u) "
            },
            app.theme.muted,
        ));
    }
    Line::from(spans)
}

/// Draws the detail pane.
pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Detail && !app.help;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            app.theme.border_focused
        } else {
            app.theme.border
        })
        .title(tabs_title(app));
    let mut inner = block.inner(area);
    f.render_widget(block, area);
    if matches!(app.tab, Tab::Diff | Tab::Enrichment) {
        let pinned = pinned_lines(app);
        let h = u16::try_from(pinned.len())
            .unwrap_or(0)
            .min(inner.height.saturating_sub(3));
        if h > 0 {
            let [top, rest] =
                Layout::vertical([Constraint::Length(h), Constraint::Min(1)]).areas(inner);
            f.render_widget(Paragraph::new(pinned), top);
            inner = rest;
        }
    }
    match app.tab {
        Tab::Diff => super::diff::draw(f, app, inner),
        Tab::Enrichment => super::enrich::draw(f, app, inner),
        Tab::Rules => editor(f, app, inner),
        Tab::Log => log(f, app, inner),
    }
}

/// A time for people: `14:03` today, `Nov 26 14:03` otherwise (UTC, like the feed).
#[must_use]
pub fn when(app: &App, t: chrono::DateTime<chrono::Utc>) -> String {
    if t.date_naive() == app.now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%b %d %H:%M").to_string()
    }
}

/// The selected alert's status (who, when, until when) and its numbered remediation
/// commands: pinned at the top of the details, above the scrolling diff or enrichment.
fn pinned_lines(app: &App) -> Vec<Line<'static>> {
    let mut out = drift_lines(app);
    let Some(e) = app.selected_index().and_then(|i| app.feed.entry(i)) else {
        if app.view == View::Now
            && let Some(t) = &app.now_board.target
        {
            if app.selected().is_none() {
                out.push(Line::styled(
                    format!(
                        "Its latest alert ({}) is not in the feed: re-reading it from the store…",
                        t.alert_id
                    ),
                    app.theme.muted,
                ));
            } else {
                push_fixes(app, &mut out);
            }
        }
        return out;
    };
    let by =
        e.by.as_ref()
            .map(|h| format!(" by {} at {}", h.who, when(app, h.at)))
            .unwrap_or_default();
    let status = match e.status {
        Status::New => "● new: not handled".to_string(),
        Status::Acked => format!("A acknowledged{by}: someone is on it"),
        Status::Snoozed(until) => format!("Z snoozed until {}{by}", when(app, until)),
        Status::Resolved => format!("R resolved{by}"),
    };
    let saved = if app.meta.persistent() {
        "  (saved in the store)"
    } else if app.meta.store.is_some() {
        "  (in-memory store: lost on exit)"
    } else {
        "  (in memory only: no store)"
    };
    // On the Now board the drift's status (above) is what the keys change.
    if app.view != View::Now {
        out.push(Line::from(vec![
            Span::styled("Status ", app.theme.header),
            Span::raw(status),
            Span::styled(saved, app.theme.muted),
        ]));
    }
    if app.selected_partial() {
        out.push(Line::styled(
            "Loading the full alert from the store…",
            app.theme.muted,
        ));
        return out;
    }
    push_fixes(app, &mut out);
    out
}

/// On the Now board: the selected drift (status, age, occurrences, id) above its alert.
fn drift_lines(app: &App) -> Vec<Line<'static>> {
    if app.view != View::Now {
        return Vec::new();
    }
    let Some(d) = app.now_board.focus_drift().and_then(|i| app.drifts.get(i)) else {
        return Vec::new();
    };
    let k = app.now_board.known.get(&d.id).cloned().unwrap_or_default();
    let c = crate::tui::now::cells(d, &k, app.now);
    vec![Line::from(vec![
        Span::styled("Drift  ", app.theme.header),
        Span::raw(format!(
            "{} {} · {} · open {} · seen {} · episode {}",
            c.resource, c.attribute, c.status, c.age, c.count, d.episode
        )),
        Span::styled(format!("  {}", d.id), app.theme.muted),
    ])]
}

/// The numbered remediation commands of the selected alert.
fn push_fixes(app: &App, out: &mut Vec<Line<'static>>) {
    let Some(a) = app.selected() else {
        return;
    };
    let cmds = remediation_commands(a);
    if cmds.is_empty() {
        out.push(Line::styled(
            "Fix    no command applies (nothing for Terraform to restore or import)",
            app.theme.muted,
        ));
    }
    for (i, c) in cmds.iter().enumerate() {
        out.push(Line::from(vec![
            Span::styled(
                if i == 0 { "Fix " } else { "    " }.to_string(),
                app.theme.header,
            ),
            Span::styled(format!("c{} ", i + 1), app.theme.header),
            Span::raw(c.line.clone()),
            Span::styled(format!("  # {}", c.why), app.theme.muted),
        ]));
    }
}

fn editor(f: &mut Frame<'_>, app: &App, area: Rect) {
    let ed = &app.editor;
    let diag_h = u16::try_from(ed.diagnostics.len().clamp(1, 3)).unwrap_or(1);
    let [head, body, foot, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(diag_h),
        Constraint::Length(1),
    ])
    .areas(area);
    let state = if ed.modified {
        "modified"
    } else {
        ed.origin.as_str()
    };
    let mode = if app.editing {
        "EDITING · ctrl-s save · ctrl-t tests · Esc stop"
    } else if app.meta.readonly {
        "VIEW (read-only: editing disabled)"
    } else {
        "VIEW · i or Enter edits · t tests · n/N draft a rule from the selected alert"
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!("{} ", ed.path.display()), app.theme.header),
            Span::styled(
                format!("[{state}] "),
                if ed.modified {
                    app.theme.error
                } else {
                    app.theme.muted
                },
            ),
            Span::styled(
                format!("· {mode} · checks: {}", ed.validator_name()),
                app.theme.muted,
            ),
        ])),
        head,
    );
    f.render_widget(&ed.textarea, body);
    let lines: Vec<Line<'_>> = if ed.diagnostics.is_empty() {
        vec![Line::styled(ed.validator_ok_text(), app.theme.ok)]
    } else {
        ed.diagnostics
            .iter()
            .map(|d| {
                Line::styled(
                    format!("✗ line {}:{}: {}", d.line, d.column, d.message),
                    app.theme.error,
                )
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines), foot);
    let line = match &app.editor_status {
        Some((text, problem)) => Line::styled(
            text.clone(),
            if *problem {
                app.theme.error
            } else {
                app.theme.ok
            },
        ),
        None if app.meta.rules_watched => Line::styled(
            "Watched: a valid save is in force for the next event",
            app.theme.muted,
        ),
        None => Line::styled(
            "Not watched: a save does not hot-reload (add it or its dir to the profile's `rules:`)",
            app.theme.muted,
        ),
    };
    f.render_widget(Paragraph::new(line), status);
}

fn log(f: &mut Frame<'_>, app: &App, area: Rect) {
    if app.logs.is_empty() {
        f.render_widget(
            Paragraph::new("No log lines yet (level from TFDRIFT_LOG, default info).")
                .style(app.theme.muted),
            area,
        );
        return;
    }
    let h = usize::from(area.height);
    let end = app
        .logs
        .len()
        .saturating_sub(usize::from(app.detail_scroll));
    let start = end.saturating_sub(h);
    let lines: Vec<Line<'_>> = app
        .logs
        .range(start..end)
        .map(|l| {
            let style = match l.level {
                Level::ERROR => app.theme.error,
                Level::WARN => app.theme.removed,
                Level::INFO => Style::default(),
                _ => app.theme.muted,
            };
            Line::from(vec![
                Span::styled(
                    format!("{} {:5} ", l.time.format("%H:%M:%S"), l.level),
                    style,
                ),
                Span::styled(format!("{}: ", l.target), app.theme.muted),
                Span::raw(l.text.clone()),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
