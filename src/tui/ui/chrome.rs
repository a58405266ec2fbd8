//! Header (profile, the daemon link in team mode, health of every source, state freshness,
//! read-only), status bar
//! (counters), bottom line (input, messages, hints from the focused component's keymap) and the
//! help popup generated from the keymap.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::collect::health::SourceHealth;
use crate::tui::app::{App, Focus, InputKind, SILENT_AFTER};
use crate::tui::backend::{DaemonLink, LinkState};
use crate::tui::command::COMMANDS;
use crate::tui::keymap::Context;

/// One live source's health as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// Connected; the last event's lag when there was one.
    Ok,
    /// Not reported yet (connecting).
    Starting,
    /// The last contact failed.
    Failing,
}

/// A live source's state and chip text (`sqs ✓ lag 3s`, `falco_grpc ✗ connection refused`).
#[must_use]
pub fn source_chip(name: &str, h: Option<&SourceHealth>) -> (SourceState, String) {
    let kind = h
        .map(|h| h.kind.as_str())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| name.split(':').next().unwrap_or(name));
    match h {
        None => (SourceState::Starting, format!("{kind} … connecting")),
        Some(h) if h.connected => {
            let lag = h
                .lag_ms
                .map(|ms| format!(" lag {}", short_duration(ms / 1000)))
                .unwrap_or_default();
            (SourceState::Ok, format!("{kind} ✓{lag}"))
        }
        Some(h) => {
            let why = h.last_error.as_deref().map_or("down", short_error);
            (
                SourceState::Failing,
                format!("{kind} ✗ {why} ({} errors)", h.errors),
            )
        }
    }
}

/// `3s`, `2m`, `4h`, `2d`.
fn short_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// The most telling words of an error (`connection refused`, `no such file`), else its start.
fn short_error(e: &str) -> &str {
    const KNOWN: &[&str] = &[
        "connection refused",
        "No such file or directory",
        "no such file",
        "timed out",
        "dns error",
        "permission denied",
        "Permission denied",
        "not found",
        "NonExistentQueue",
        "AccessDenied",
        "InvalidClientTokenId",
        "certificate",
        "broken pipe",
        "closed the stream",
        "tcp connect error",
    ];
    if let Some(k) = KNOWN.iter().find(|k| e.contains(*k)) {
        return k;
    }
    let end = e.char_indices().nth(40).map_or(e.len(), |(i, _)| i);
    &e[..end]
}

/// The overall state: `● running` only when the pipeline runs and every live source is
/// healthy; red when one fails or the pipeline went silent.
fn overall(app: &App) -> Span<'static> {
    if !app.pipeline_running {
        return Span::styled("■ sources done", app.theme.muted);
    }
    let states: Vec<SourceState> = app
        .meta
        .live_sources
        .iter()
        .map(|n| source_chip(n, app.stats.sources.get(n)).0)
        .collect();
    let failing = states
        .iter()
        .filter(|s| **s == SourceState::Failing)
        .count();
    let silent = !app.meta.live_sources.is_empty()
        && app.stats_at.is_some_and(|t| app.now - t > SILENT_AFTER);
    if failing > 0 {
        Span::styled(
            format!("✗ {failing} of {} sources failing", states.len()),
            app.theme.error.add_modifier(Modifier::BOLD),
        )
    } else if silent {
        Span::styled(
            format!(
                "✗ silent: no pipeline report for {}",
                short_duration(app.stats_at.map_or(0, |t| (app.now - t).num_seconds()))
            ),
            app.theme.error.add_modifier(Modifier::BOLD),
        )
    } else if states.contains(&SourceState::Starting) {
        Span::styled("◌ connecting", app.theme.muted)
    } else {
        Span::styled("● running", app.theme.ok)
    }
}

/// Whether every live source is healthy (for the empty feed's message).
#[must_use]
pub fn failing_sources(app: &App) -> Vec<String> {
    app.meta
        .live_sources
        .iter()
        .filter_map(|n| {
            let (st, chip) = source_chip(n, app.stats.sources.get(n));
            (st == SourceState::Failing).then_some(chip)
        })
        .collect()
}

/// The profile badge: red for a production-looking profile, so nobody mistakes it.
fn profile_style(app: &App) -> Style {
    let p = app.meta.profile.to_lowercase();
    if p.contains("prod") && !p.contains("nonprod") && !p.contains("preprod") {
        Style::default()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD)
    } else {
        app.theme.selected
    }
}

/// Team mode: the daemon and the link's state (`⇄ daemon host:port · alice (responder)`,
/// `reconnecting in 4 s (connection refused)`, `refused: reason` in red).
#[must_use]
pub fn daemon_spans(app: &App, d: &DaemonLink) -> Vec<Span<'static>> {
    let head = format!("⇄ daemon {} · ", d.addr);
    match &d.state {
        LinkState::Connecting => vec![Span::styled(format!("{head}connecting…"), app.theme.muted)],
        LinkState::Connected => {
            let who = d
                .caller
                .as_ref()
                .map_or_else(String::new, |(n, r)| format!("{n} ({r})"));
            let mut spans = vec![Span::styled(format!("{head}{who}"), app.theme.ok)];
            let up = d
                .started
                .map(|t| format!(" up {}", short_duration((app.now - t).num_seconds())))
                .unwrap_or_default();
            if !d.version.is_empty() || !up.is_empty() {
                spans.push(Span::styled(
                    format!(" · v{}{up}", d.version),
                    app.theme.muted,
                ));
            }
            spans
        }
        LinkState::Reconnecting { at, why } => {
            let secs = (*at - app.now)
                .num_milliseconds()
                .max(0)
                .unsigned_abs()
                .div_ceil(1000);
            vec![Span::styled(
                format!("{head}reconnecting in {secs} s ({})", short_error(why)),
                app.theme.error,
            )]
        }
        LinkState::Refused(why) => {
            let why = why
                .strip_prefix("refused by the daemon (UNAUTHENTICATED): ")
                .or_else(|| why.strip_prefix("refused by the daemon (PERMISSION_DENIED): "))
                .or_else(|| why.strip_prefix("refused by the daemon: "))
                .unwrap_or(why);
            vec![Span::styled(
                format!("{head}refused: {why}"),
                app.theme.error.add_modifier(Modifier::BOLD),
            )]
        }
    }
}

/// The header: profile, the daemon link, overall state, one chip per source, state freshness,
/// read-only.
pub fn header(f: &mut Frame<'_>, app: &App, area: Rect) {
    let sep = || Span::styled(" │ ", app.theme.muted);
    let mut spans = vec![
        Span::styled(format!(" {} ", app.meta.profile), profile_style(app)),
        Span::raw(" "),
    ];
    if app.meta.readonly {
        spans.push(Span::styled(
            " READ-ONLY ",
            app.theme
                .header
                .add_modifier(Modifier::REVERSED | Modifier::BOLD),
        ));
        spans.push(Span::raw(" "));
    }
    if let Some(d) = &app.meta.daemon {
        let mut link = daemon_spans(app, d);
        let width: usize = spans.iter().chain(&link).map(Span::width).sum();
        if link.len() > 1 && width + 14 > usize::from(area.width) {
            // Narrow: the daemon's version and uptime give way to the pipeline's state.
            link.truncate(1);
        }
        spans.extend(link);
        // The pipeline's state is the daemon's; stale counters say nothing while the link is
        // down.
        if d.state == LinkState::Connected {
            spans.push(sep());
            spans.push(overall(app));
        }
    } else {
        spans.push(overall(app));
    }
    for n in &app.meta.live_sources {
        let (st, chip) = source_chip(n, app.stats.sources.get(n));
        spans.push(sep());
        spans.push(Span::styled(
            chip,
            match st {
                SourceState::Ok => app.theme.ok,
                SourceState::Starting => app.theme.muted,
                SourceState::Failing => app.theme.error,
            },
        ));
    }
    for r in &app.meta.sources {
        spans.push(sep());
        spans.push(Span::styled(r.clone(), app.theme.muted));
    }
    if app.meta.daemon.is_some() {
        // The daemon's sources arrive with its counters; its state index is its own.
        let age = state_age(app);
        if !age.is_empty() {
            spans.extend([sep(), Span::styled(format!("state{age}"), app.theme.muted)]);
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if app.meta.live_sources.is_empty() && app.meta.sources.is_empty() {
        spans.push(sep());
        spans.push(Span::styled("no sources", app.theme.error));
    }
    spans.extend([
        sep(),
        Span::raw(format!("state {} res", app.meta.state_resources)),
        Span::styled(state_age(app), app.theme.muted),
    ]);
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The status bar: rates and counters.
pub fn status_bar(f: &mut Frame<'_>, app: &App, area: Rect) {
    let s = &app.stats;
    let sep = || Span::styled(" │ ", app.theme.muted);
    let mut spans = vec![
        Span::raw(format!(" {:.1} ev/s", app.eps)),
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
    if app.meta.daemon.is_some() {
        spans.extend([
            sep(),
            Span::styled("notify on the daemon", app.theme.muted),
            sep(),
            Span::raw("acks on the daemon"),
        ]);
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
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
        Line::styled(hint_text(app), app.theme.muted)
    };
    f.render_widget(Paragraph::new(line), area);
}

/// The context whose keys are live now (the focused component).
#[must_use]
pub fn focused_context(app: &App) -> Context {
    if app.help {
        Context::Help
    } else if app.editing {
        Context::Editor
    } else if app.workspaces.open {
        Context::Workspaces
    } else {
        match app.focus {
            Focus::Feed => app.list_context(),
            Focus::Detail => Context::Detail,
        }
    }
}

/// The hint bar: the focused component's hinted keys, then the global ones (none while the
/// editor or help has the keyboard: other keys type or are ignored there). Generated from
/// the keymap, so it is always true; write keys are left out in read-only mode.
#[must_use]
pub fn hint_text(app: &App) -> String {
    let ctx = focused_context(app);
    let mut hints = app.keymap.hints(ctx, app.meta.readonly);
    if ctx == Context::Detail && app.tab != crate::tui::app::Tab::Rules {
        hints.retain(|(_, h)| *h != "edit rules");
    }
    if ctx == Context::Detail && app.tab != crate::tui::app::Tab::Diff {
        hints.retain(|(_, h)| *h != "unified");
    }
    if matches!(ctx, Context::Now | Context::Feed | Context::Detail) {
        hints.extend(app.keymap.hints(Context::Global, app.meta.readonly));
    } else if ctx == Context::Workspaces {
        // Over the workspaces view only these global keys act (see `on_workspaces_key`).
        hints.extend(
            app.keymap
                .hints(Context::Global, app.meta.readonly)
                .into_iter()
                .filter(|(_, h)| matches!(*h, "quit" | "help" | "cmd")),
        );
    }
    hints
        .iter()
        .map(|(k, h)| format!("{k} {h}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Help text generated from the keymap and the command table.
#[must_use]
pub fn help_lines(app: &App) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (ctx, bindings) in &app.keymap.sections {
        let title = match ctx {
            Context::Global => "Anywhere",
            Context::Now => "Now board (open drifts, worst first; the default view)",
            Context::Feed => "Drift feed",
            Context::Workspaces => "Workspaces (the reconcile status board, W)",
            Context::Detail => "Detail pane (diff, enrichment, log)",
            Context::Editor => "Rule editor (while editing; other keys edit text)",
            Context::Help => "This help",
        };
        out.push(Line::styled(title, app.theme.header));
        for b in bindings.iter().filter(|b| !(app.meta.readonly && b.write)) {
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
        if app.meta.readonly {
            format!(
                "Read-only ({}): acknowledge, snooze, resolve, rule drafts and edits are disabled.",
                app.meta.readonly_reason()
            )
        } else if let Some(d) = &app.meta.daemon {
            format!(
                "Acknowledge, snooze and resolve are recorded on the daemon ({}) under your token's name; every monitor and watcher attached to it sees them. The rules live on the daemon: the editor does not save them.",
                d.addr
            )
        } else {
            match &app.meta.store {
                Some(path) if app.meta.persistent() => format!(
                    "Acknowledge, snooze and resolve are saved in the store ({path}) and survive a restart."
                ),
                Some(_) => "Acknowledge, snooze and resolve are kept in an in-memory store: lost when the monitor exits.".to_string(),
                None => "Acknowledge, snooze and resolve live in memory only: not persisted (no store configured).".to_string(),
            }
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
