//! Status bar, bottom line (input, messages, hints) and the help popup generated from the keymap.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::app::{App, InputKind};
use crate::tui::command::COMMANDS;
use crate::tui::keymap::Context;

/// The status bar: sources and health, rates, counters.
pub fn status_bar(f: &mut Frame<'_>, app: &App, area: Rect) {
    let s = &app.stats;
    let health = if app.pipeline_running {
        Span::styled("● running", app.theme.ok)
    } else {
        Span::styled("■ sources done", app.theme.muted)
    };
    let sources = if app.meta.sources.is_empty() {
        "no sources".to_string()
    } else {
        app.meta.sources.join(", ")
    };
    let sep = || Span::styled(" │ ", app.theme.muted);
    let mut spans = vec![
        Span::styled(format!(" {} ", app.meta.profile), app.theme.selected),
        Span::raw(" "),
        health,
        sep(),
        Span::raw(format!("{:.1} ev/s", app.eps)),
        sep(),
        Span::raw(format!("state {} res", app.meta.state_resources)),
        Span::styled(state_age(app), app.theme.muted),
        sep(),
        Span::raw(format!("read {} parsed {}", s.records_read, s.parsed)),
        sep(),
        Span::raw(format!("unsupported {}", s.unsupported)),
        Span::raw(format!(" · unparseable {}", s.unparseable)),
    ];
    if !s.state_errors.is_empty() {
        spans.push(Span::styled(
            format!(" · state errors {}", s.state_errors.len()),
            app.theme.error,
        ));
    }
    spans.extend([
        sep(),
        notify_span(app),
        sep(),
        if app.meta.persistent() {
            Span::raw("acks saved")
        } else if app.meta.store.is_some() {
            Span::styled("acks in memory store", app.theme.muted)
        } else {
            Span::styled("acks not persisted", app.theme.muted)
        },
        sep(),
        Span::styled(sources, app.theme.muted),
    ]);
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// ` (local+s3, 42s old)`: which backends and how old the index in use is.
fn state_age(app: &App) -> String {
    let backends = if app.meta.state_backends.is_empty() {
        String::new()
    } else {
        app.meta.state_backends.join("+")
    };
    let age = app.stats.state_loaded_at.map(|t| {
        let secs = (app.now - t).num_seconds().max(0);
        if secs < 120 {
            format!("{secs}s old")
        } else {
            format!("{}m old", secs / 60)
        }
    });
    match (backends.is_empty(), age) {
        (true, None) => String::new(),
        (false, None) => format!(" ({backends})"),
        (true, Some(a)) => format!(" ({a})"),
        (false, Some(a)) => format!(" ({backends}, {a})"),
    }
}

/// Notification failures across channels (`notify off` without channels).
fn notify_span(app: &App) -> Span<'static> {
    match &app.meta.notify {
        None => Span::styled("notify off", app.theme.muted),
        Some(stats) => {
            let failed: u64 = stats.snapshot().values().map(|c| c.failed).sum();
            if failed > 0 {
                Span::styled(format!("notify failed {failed}"), app.theme.error)
            } else {
                Span::raw("notify ok")
            }
        }
    }
}

/// The bottom line: the open input, else a message, else key hints.
pub fn bottom_line(f: &mut Frame<'_>, app: &App, area: Rect) {
    let line = if let Some((kind, text)) = &app.input {
        let prefix = match kind {
            InputKind::Filter => "/",
            InputKind::Command => ":",
        };
        let hint = match kind {
            InputKind::Filter => {
                "   (live; Enter keeps, Esc restores · sev:high kind:unmanaged provider: account: status:new)"
            }
            InputKind::Command => {
                "   (:q :filter :sort :ack :snooze :resolve :copy :rule :w · Enter runs, Esc cancels)"
            }
        };
        Line::from(vec![
            Span::styled(format!("{prefix}{text}"), app.theme.header),
            Span::styled("▏", app.theme.header),
            Span::styled(hint, app.theme.muted),
        ])
    } else if let Some((msg, err)) = &app.message {
        Line::styled(
            msg.clone(),
            if *err { app.theme.error } else { app.theme.ok },
        )
    } else {
        let k = |ctx, a| app.keymap.key_for(ctx, a).unwrap_or("?").to_string();
        Line::styled(
            format!(
                "{} help  {} filter  {} cmd  {} ack  {} diff  {} info  {} rules  {} copy  {} fix  {} quit",
                k(Context::Global, "help"),
                k(Context::Global, "filter"),
                k(Context::Global, "command"),
                k(Context::Feed, "ack"),
                k(Context::Global, "tab_diff"),
                k(Context::Global, "tab_enrichment"),
                k(Context::Global, "tab_rules"),
                k(Context::Feed, "copy_alert"),
                k(Context::Feed, "copy_remediation"),
                k(Context::Global, "quit"),
            ),
            app.theme.muted,
        )
    };
    f.render_widget(Paragraph::new(line), area);
}

/// Help text generated from the keymap and the command table.
#[must_use]
pub fn help_lines(app: &App) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (ctx, bindings) in &app.keymap.sections {
        let title = match ctx {
            Context::Global => "Anywhere",
            Context::Feed => "Drift feed",
            Context::Detail => "Detail pane (diff, enrichment, log)",
            Context::Editor => "Rule editor (while editing; other keys edit text)",
            Context::Help => "This help",
        };
        out.push(Line::styled(title, app.theme.header));
        for b in bindings {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<26}", b.keys.join(", ")), Style::default()),
                Span::styled(b.desc.clone(), app.theme.muted),
            ]));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::styled("Commands (:)", app.theme.header));
    for (usage, desc) in COMMANDS {
        out.push(Line::from(vec![
            Span::raw(format!("  {usage:<30}")),
            Span::styled(*desc, app.theme.muted),
        ]));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        match &app.meta.store {
            Some(path) => format!(
                "Acknowledge, snooze and resolve are saved in the store ({path}) and survive a restart."
            ),
            None => "Acknowledge, snooze and resolve live in memory only: not persisted (no store configured).".to_string(),
        },
        app.theme.muted,
    ));
    out.push(Line::styled(
        "Mouse: click a row or a tab, wheel scrolls; hold Shift to select text. Keys: config/keymap.toml, overlay ~/.config/tfdrift/keymap.toml.",
        app.theme.muted,
    ));
    out
}

/// The help popup.
pub fn help(f: &mut Frame<'_>, app: &App, area: Rect) {
    let w = area.width.saturating_sub(4).min(110);
    let h = area.height.saturating_sub(2);
    let [row] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(row);
    f.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border_focused)
        .title(Line::styled(
            " Help · j/k scroll · Esc/q/? close ",
            app.theme.header,
        ));
    f.render_widget(
        Paragraph::new(help_lines(app))
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((app.help_scroll, 0)),
        popup,
    );
}
