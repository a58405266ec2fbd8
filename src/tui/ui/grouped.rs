//! The feed grouped by drift or by actor session: one row per group (worst severity, count,
//! first and last seen, unhandled), its alerts under it once expanded (Enter).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{ellipsize, pad};
use crate::tui::app::{App, FeedRow, Focus};
use crate::tui::feed::{actor_label, resource_label};

/// Draws the grouped feed.
#[allow(clippy::many_single_char_names)] // f, g, e, a, b: frame, groups, entry, alert, badge
pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let focused = app.focus == Focus::Feed && !app.help;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            app.theme.border_focused
        } else {
            app.theme.border
        })
        .title(super::feed::title(app));
    let inner = block.inner(area);
    let g = &app.groups;
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let mut offset = g.offset.get();
    if g.sel < offset {
        offset = g.sel;
    } else if g.sel >= offset + height {
        offset = g.sel + 1 - height;
    }
    offset = offset.min(g.rows.len().saturating_sub(height));
    g.offset.set(offset);
    let width = usize::from(inner.width);
    let mut lines = vec![Line::styled(
        format!(
            "  {} · Enter expands · a/s/x act on every alert of the group",
            match g.by {
                crate::tui::group::GroupBy::Session =>
                    "ACTOR SESSIONS (same actor and via, < 15 min apart)",
                _ => "DRIFTS (× alerts · resource · attribute · first · last seen)",
            }
        ),
        app.theme.header,
    )];
    let today = app.now.date_naive();
    for (i, row) in g.rows.iter().enumerate().skip(offset).take(height) {
        let selected = i == g.sel;
        let marker = if selected { "▶" } else { " " };
        let line = match row {
            FeedRow::Group(gi) => {
                let Some(grp) = g.groups.get(*gi) else {
                    continue;
                };
                let b = app.theme.badge(grp.worst);
                let open = if g.expanded.contains(&grp.key) {
                    "▾"
                } else {
                    "▸"
                };
                let label = g.label(grp, &app.feed, app.now);
                Line::from(vec![
                    Span::raw(format!("{marker}{open} ")),
                    Span::styled(pad(&format!("{} {}", b.symbol, b.label), 7), b.style),
                    Span::raw(" "),
                    Span::raw(ellipsize(&label, width.saturating_sub(11))),
                ])
            }
            FeedRow::Alert(idx) => {
                let Some(e) = app.feed.entry(*idx) else {
                    continue;
                };
                let a = &e.alert;
                let b = app.theme.badge(a.severity);
                let time = if a.time.date_naive() == today {
                    a.time.format("%H:%M:%S").to_string()
                } else {
                    a.time.format("%b %d %H:%M").to_string()
                };
                let text = format!("{} · {} · {}", resource_label(a), e.why, actor_label(a));
                Line::from(vec![
                    Span::raw(format!("{marker}   {} ", e.status.symbol())),
                    Span::raw(format!("{time} ")),
                    Span::styled(pad(&format!("{} {}", b.symbol, b.label), 7), b.style),
                    Span::raw(" "),
                    Span::styled(
                        ellipsize(&text, width.saturating_sub(15 + time.len())),
                        app.theme.muted,
                    ),
                ])
            }
        };
        lines.push(if selected {
            line.style(app.theme.selected.add_modifier(Modifier::BOLD))
        } else {
            line
        });
    }
    if g.rows.is_empty() {
        lines.push(Line::styled(
            "No alert to group (the filter keeps none, or none arrived yet).",
            app.theme.muted,
        ));
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}
