//! The live drift feed: a table of the visible window only (100k alerts cost what 40 do).

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::ellipsize;
use crate::alert::{AlertKind, Severity, Via};
use crate::tui::app::{App, Focus};
use crate::tui::feed::{SortKey, Status, actor_label, resource_label};

/// Short kind label.
pub(crate) fn kind_label(k: AlertKind) -> &'static str {
    match k {
        AlertKind::AttributeDrift => "drift",
        AlertKind::ManagedResourceDeleted => "deleted",
        AlertKind::UnmanagedChange => "unmanaged",
    }
}

pub(crate) fn via_label(v: Via) -> &'static str {
    crate::tui::filter::via_name(v)
}

/// The feed's title (also the grouped feed's): counts, sort, follow, filter, grouping and the
/// "N new ↑" badge.
pub(super) fn title(app: &App) -> Line<'static> {
    let c = app.feed.counts();
    let mut spans = vec![Span::styled(" Drift feed ", app.theme.header)];
    spans.push(Span::raw(format!(
        "{}/{} ",
        app.feed.shown(),
        app.feed.total()
    )));
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = c.by_severity[sev as usize];
        if n > 0 {
            let b = app.theme.badge(sev);
            spans.push(Span::styled(format!("{} {n}", b.symbol), b.style));
            spans.push(Span::raw(" "));
        }
    }
    spans.push(Span::raw(format!("· {} unhandled ", c.unhandled)));
    if app.feed.dropped() > 0 {
        spans.push(Span::styled(
            format!("· {} older in the store ", app.feed.dropped()),
            app.theme.muted,
        ));
    }
    let (key, desc) = app.feed.sort();
    spans.push(Span::styled(
        format!("· sort {}{} ", key.as_str(), if desc { "↓" } else { "↑" }),
        app.theme.muted,
    ));
    if app.follow {
        spans.push(Span::styled("· follow ● ", app.theme.ok));
    } else if app.new_unseen > 0 {
        // Follow is off and alerts arrived above the selection: say so.
        spans.push(Span::styled(
            format!("· {} new ↑ ", app.new_unseen),
            app.theme
                .header
                .add_modifier(ratatui::style::Modifier::REVERSED),
        ));
    }
    if app.groups.active() {
        spans.push(Span::styled(
            format!("· grouped {} ", app.groups.by.label()),
            app.theme.header,
        ));
    }
    if !app.filter_text.is_empty() {
        spans.push(Span::styled(
            format!("· /{} ", ellipsize(&app.filter_text, 30)),
            app.theme.header,
        ));
    }
    if app.hide_handled {
        spans.push(Span::styled("· unhandled only ", app.theme.muted));
    }
    Line::from(spans)
}

/// Shortens `s` to `max` characters by cutting the middle, so both the resource type (start)
/// and its name (end) stay readable: `aws_security…myapp-sg`.
fn mid_ellipsize(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return if n <= max {
            s.to_string()
        } else {
            ellipsize(s, max)
        };
    }
    let tail = (max - 1) / 2;
    let head = max - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// Draws the feed.
pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Feed && !app.help;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            app.theme.border_focused
        } else {
            app.theme.border
        })
        .title(title(app));
    let inner = block.inner(area);
    if app.feed.shown() == 0 {
        let failing = super::chrome::failing_sources(app);
        let msg = if app.feed.total() == 0 && !failing.is_empty() {
            format!(
                "No alerts, and it may not be quiet: {} of {} sources failing ({}). 4 (Log) has the errors.",
                failing.len(),
                app.meta.live_sources.len(),
                failing.join("; ")
            )
        } else if app.feed.total() == 0 {
            format!(
                "Waiting for alerts… {} events read, {} parsed. Drift appears here as it is detected.",
                app.stats.records_read, app.stats.parsed
            )
        } else {
            let why = &app.filter_why;
            format!(
                "No alert matches the filter '{}' ({} hidden){}. Esc clears it.",
                app.feed.filter().text,
                app.feed.total(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", why.join("; "))
                }
            )
        };
        let style = if failing.is_empty() {
            app.theme.muted
        } else {
            app.theme.error
        };
        f.render_widget(
            Paragraph::new(msg)
                .style(style)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let mut offset = app.feed_offset.get();
    if app.sel < offset {
        offset = app.sel;
    } else if app.sel >= offset + height {
        offset = app.sel + 1 - height;
    }
    offset = offset.min(app.feed.shown().saturating_sub(height));
    app.feed_offset.set(offset);

    let narrow = inner.width < 100;
    // Times from before today carry their date.
    let today = app.now.date_naive();
    let dated = app
        .feed
        .window(offset, height)
        .any(|e| e.alert.time.date_naive() != today);
    let mut widths = vec![
        Constraint::Length(2),
        Constraint::Length(if dated { 12 } else { 8 }),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Fill(3),
        Constraint::Fill(3),
        Constraint::Fill(2),
    ];
    if !narrow {
        widths.push(Constraint::Length(7));
    }
    let cols: Vec<usize> = Layout::horizontal(widths.clone())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, inner.width, 1))
        .iter()
        .map(|r| usize::from(r.width))
        .collect();
    let fit = |s: &str, col: usize| mid_ellipsize(s, cols.get(col).copied().unwrap_or(10));
    let rows = app.feed.window(offset, height).enumerate().map(|(i, e)| {
        let a = &e.alert;
        let badge = app.theme.badge(a.severity);
        let attrs: &str = &e.why;
        let status_style = match e.status {
            Status::New | Status::Acked => Style::default(),
            _ => app.theme.muted,
        };
        let mut cells = vec![
            // A marker for the selected row, so selection never depends on colour alone.
            Cell::from(Line::from(vec![
                Span::raw(if offset + i == app.sel { "▶" } else { " " }),
                Span::styled(e.status.symbol().to_string(), status_style),
            ])),
            Cell::from(if a.time.date_naive() == today {
                a.time.format("%H:%M:%S").to_string()
            } else {
                a.time.format("%b %d %H:%M").to_string()
            }),
            Cell::from(Span::styled(
                format!("{} {}", badge.symbol, badge.label),
                badge.style,
            )),
            Cell::from(kind_label(a.kind)),
            Cell::from(fit(&resource_label(a), 4)),
            Cell::from(ellipsize(attrs, cols.get(5).copied().unwrap_or(10))),
            Cell::from(ellipsize(
                actor_label(a),
                cols.get(6).copied().unwrap_or(10),
            )),
        ];
        if !narrow {
            cells.push(Cell::from(via_label(a.actor.via)));
        }
        let mut row = Row::new(cells);
        if offset + i == app.sel {
            row = row.style(app.theme.selected.add_modifier(Modifier::BOLD));
        } else if e.status == Status::Resolved {
            // Done: dimmed and struck through, unlike an acknowledged alert (still open).
            row = row.style(app.theme.muted.add_modifier(Modifier::CROSSED_OUT));
        } else if matches!(e.status, Status::Snoozed(_)) {
            row = row.style(app.theme.muted);
        }
        row
    });
    let mut header: Vec<String> = [
        "",
        "UTC",
        "SEV",
        "KIND",
        "RESOURCE",
        "WHY IT MATTERS",
        "ACTOR",
    ]
    .map(String::from)
    .to_vec();
    if !narrow {
        header.push("VIA".into());
    }
    // Mark the sorted column (time sorts the UTC column).
    let (key, desc) = app.feed.sort();
    let col = match key {
        SortKey::Time => 1,
        SortKey::Severity => 2,
        SortKey::Kind => 3,
        SortKey::Resource => 4,
        SortKey::Actor => 6,
    };
    header[col].push_str(if desc { "▼" } else { "▲" });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(app.theme.header))
        .column_spacing(1)
        .block(block);
    f.render_widget(table, area);
}
