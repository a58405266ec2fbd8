//! The Now board: every unresolved drift, worst first, one row per resource followed by one row
//! per drift (severity, attribute, status with who and until when, age, occurrences, last actor
//! and via, why it matters); below them, dimmed, the drifts that resolved while the monitor is
//! open, with how and by whom. In place of the rows, a drift's occurrence list once `Enter`
//! opened it. Only the visible rows are drawn.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::pad;
use crate::drift::Status;
use crate::tui::app::{App, Focus};
use crate::tui::now::{BoardRow, NowBoard, cells};

fn title(app: &App) -> Line<'static> {
    let (open, critical, acked, snoozed) = NowBoard::counts(&app.drifts);
    let mut spans = vec![
        Span::styled(" Now board ", app.theme.header),
        Span::raw(format!("· {open} open · ")),
    ];
    let crit = app.theme.badge(crate::alert::Severity::Critical);
    spans.push(Span::styled(
        format!("{critical} critical"),
        if critical > 0 {
            crit.style
        } else {
            Style::default()
        },
    ));
    spans.push(Span::raw(format!(" · {acked} acknowledged ")));
    if snoozed > 0 {
        spans.push(Span::raw(format!("· {snoozed} snoozed ")));
    }
    spans.push(Span::styled(
        format!("· {} alerts in the feed (v) ", app.feed.total()),
        app.theme.muted,
    ));
    Line::from(spans)
}

/// Column widths: (attribute, status, age, seen, actor, why), from the visible rows' content
/// and the width (only the visible rows: thousands of open drifts cost what a screenful does).
fn widths(app: &App, width: usize, visible: &[BoardRow]) -> [usize; 6] {
    let now = app.now;
    let mut attr = 9;
    let mut status = 6;
    let mut actor = 10;
    let drifts = visible.iter().filter_map(|r| match r {
        BoardRow::Drift(i) => app.drifts.get(*i),
        BoardRow::Resource { .. } => None,
    });
    for d in drifts {
        let k = app.now_board.known.get(&d.id).cloned().unwrap_or_default();
        let c = cells(d, &k, now);
        attr = attr.max(Span::raw(&c.attribute).width() + 2);
        status = status.max(Span::raw(&c.status).width());
        actor = actor.max(Span::raw(&c.actor).width());
    }
    let narrow = width < 120;
    let attr = attr.min(if narrow { 13 } else { width / 6 });
    let status = status.min(if narrow { 17 } else { 28 });
    let actor = actor.min(if narrow { 10 } else { 24 });
    // marker 2, severity 7, age 6, seen 5, and a space after each of the 7 columns.
    let fixed = 2 + 7 + 6 + 5 + attr + status + actor + 7;
    let why = width.saturating_sub(fixed);
    [attr, status, 6, 5, actor, why]
}

/// Draws the board.
#[allow(clippy::many_single_char_names)] // f, d, k, c, b: the usual frame, drift, cells, badge
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
    if let Some(o) = &app.now_board.occurrences {
        draw_occurrences(f, app, area, o, focused);
        return;
    }
    if app.now_board.rows.is_empty() {
        f.render_widget(
            Paragraph::new(empty_message(app).0)
                .style(empty_message(app).1)
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let board = &app.now_board;
    let mut offset = board.offset.get();
    if board.sel < offset {
        offset = board.sel;
    } else if board.sel >= offset + height {
        offset = board.sel + 1 - height;
    }
    offset = offset.min(board.rows.len().saturating_sub(height));
    board.offset.set(offset);
    let width = usize::from(inner.width);
    let visible = &board.rows[offset..(offset + height).min(board.rows.len())];
    let [wa, ws, wg, wn, wc, wy] = widths(app, width, visible);
    let mut lines = vec![Line::styled(
        format!(
            "  {} {} {} {} {} {} {}",
            pad("SEV", 7),
            pad("ATTRIBUTE", wa),
            pad("STATUS", ws),
            pad("OPEN", wg),
            pad("SEEN", wn),
            pad("LAST ACTOR", wc),
            pad("WHY IT MATTERS", wy)
        ),
        app.theme.header,
    )];
    for (i, row) in board.rows.iter().enumerate().skip(offset).take(height) {
        let selected = i == board.sel;
        let marker = if selected { "▶ " } else { "  " };
        let line = match row {
            BoardRow::Resource { label, members } => {
                let worst = members
                    .iter()
                    .filter_map(|m| app.drifts.get(*m))
                    .map(|d| d.severity)
                    .max()
                    .unwrap_or_default();
                let open = members
                    .iter()
                    .filter_map(|m| app.drifts.get(*m))
                    .filter(|d| d.status == Status::Open)
                    .count();
                let resolved = members
                    .iter()
                    .filter_map(|m| app.drifts.get(*m))
                    .filter(|d| d.status == Status::Resolved)
                    .count();
                let b = app.theme.badge(worst);
                let n = members.len() - resolved;
                let counts = format!(
                    "{}{}{}",
                    match n {
                        0 => String::new(),
                        1 => " · 1 drift".to_string(),
                        n => format!(" · {n} drifts"),
                    },
                    if open > 0 && open < n {
                        format!(" · {open} unhandled")
                    } else {
                        String::new()
                    },
                    if resolved > 0 {
                        format!(" · {resolved} resolved")
                    } else {
                        String::new()
                    }
                );
                let room = width.saturating_sub(2 + 8 + Span::raw(&counts).width());
                let l = Line::from(vec![
                    Span::raw(marker),
                    Span::styled(pad(&format!("{} {}", b.symbol, b.label), 7), b.style),
                    Span::raw(" "),
                    Span::styled(
                        pad(label, room.min(Span::raw(label).width())),
                        app.theme.header.add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(counts, app.theme.muted),
                ]);
                if n == 0 && !selected {
                    // Only resolved drifts: fading with them.
                    l.style(app.theme.muted.add_modifier(Modifier::DIM))
                } else {
                    l
                }
            }
            BoardRow::Drift(di) => {
                let Some(d) = app.drifts.get(*di) else {
                    continue;
                };
                let k = app.now_board.known.get(&d.id).cloned().unwrap_or_default();
                let c = cells(d, &k, app.now);
                let b = app.theme.badge(d.severity);
                let last = !matches!(board.rows.get(i + 1), Some(BoardRow::Drift(_)));
                let tree = if last { "└ " } else { "├ " };
                if d.status == Status::Resolved {
                    // Fading: how it ended spans status, age, seen and actor; dimmed.
                    let l = Line::from(vec![
                        Span::raw(marker),
                        Span::raw(pad(&format!("{} {}", b.symbol, b.label), 7)),
                        Span::raw(" "),
                        Span::raw(pad(&format!("{tree}{}", c.attribute), wa)),
                        Span::raw(" "),
                        Span::raw(pad(&c.status, ws + wg + wn + wc + 3)),
                        Span::raw(" "),
                        Span::raw(pad(&c.why, wy)),
                    ]);
                    lines.push(if selected {
                        l.style(app.theme.selected.add_modifier(Modifier::BOLD))
                    } else {
                        l.style(app.theme.muted.add_modifier(Modifier::DIM))
                    });
                    continue;
                }
                let status_style = match d.status {
                    Status::Open => app.theme.error,
                    _ => Style::default(),
                };
                let mut l = Line::from(vec![
                    Span::raw(marker),
                    Span::styled(pad(&format!("{} {}", b.symbol, b.label), 7), b.style),
                    Span::raw(" "),
                    Span::raw(pad(&format!("{tree}{}", c.attribute), wa)),
                    Span::raw(" "),
                    Span::styled(pad(&c.status, ws), status_style),
                    Span::raw(" "),
                    Span::raw(pad(&c.age, wg)),
                    Span::raw(" "),
                    Span::raw(pad(&c.count, wn)),
                    Span::raw(" "),
                    Span::raw(pad(&c.actor, wc)),
                    Span::raw(" "),
                    Span::styled(pad(&c.why, wy), app.theme.muted),
                ]);
                if d.status == Status::Snoozed && !selected {
                    l = l.style(app.theme.muted);
                }
                l
            }
        };
        lines.push(if selected {
            line.style(app.theme.selected.add_modifier(Modifier::BOLD))
        } else {
            line
        });
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// A drift's occurrences (`Enter` on the board): newest first, when, who, via, event, the
/// value observed; the selected one is in the details.
fn draw_occurrences(
    f: &mut Frame<'_>,
    app: &App,
    area: Rect,
    o: &crate::tui::now::Occurrences,
    focused: bool,
) {
    use crate::tui::now::occurrences::cells as occ_cells;
    let drift = app.drifts.iter().find(|d| d.id == o.drift_id);
    let what = drift.map_or_else(
        || o.drift_id.clone(),
        |d| {
            let r = crate::tui::now::resource_of(d);
            if d.attribute.is_empty() {
                r
            } else {
                format!("{r} {}", d.attribute)
            }
        },
    );
    let count = o.alerts.as_ref().map_or(String::new(), |a| {
        let total = drift.map_or(a.len() as u64, |d| d.occurrences);
        if (a.len() as u64) < total {
            format!(" · newest {} of ×{total}", a.len())
        } else {
            format!(" · ×{}", a.len())
        }
    });
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            app.theme.border_focused
        } else {
            app.theme.border
        })
        .title(Line::from(vec![
            Span::styled(" Occurrences ", app.theme.header),
            Span::raw(format!("· {what}{count} ")),
            Span::styled("· Enter details · Esc board ", app.theme.muted),
        ]));
    let inner = block.inner(area);
    let Some(alerts) = o.alerts.as_ref() else {
        let (text, style) = match &o.error {
            Some(e) => (
                format!("The occurrences cannot be read: {e} (Esc goes back to the board)"),
                app.theme.error,
            ),
            None => (
                "Reading the drift's occurrences…".to_string(),
                app.theme.muted,
            ),
        };
        f.render_widget(
            Paragraph::new(text)
                .style(style)
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    if alerts.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No occurrence of this drift is still stored (retention pruned its alerts).",
            )
            .style(app.theme.muted)
            .wrap(Wrap { trim: true })
            .block(block),
            area,
        );
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let mut offset = o.offset.get();
    if o.sel < offset {
        offset = o.sel;
    } else if o.sel >= offset + height {
        offset = o.sel + 1 - height;
    }
    offset = offset.min(alerts.len().saturating_sub(height));
    o.offset.set(offset);
    let width = usize::from(inner.width);
    let rows: Vec<_> = alerts
        .iter()
        .skip(offset)
        .take(height)
        .map(|a| occ_cells(a, drift, app.now))
        .collect();
    let wt = rows.iter().map(|c| c.time.len()).max().unwrap_or(8).max(4);
    let wa = rows
        .iter()
        .map(|c| Span::raw(&c.actor).width())
        .max()
        .unwrap_or(5)
        .clamp(5, if width < 120 { 14 } else { 28 });
    let wv = 9;
    let we = rows
        .iter()
        .map(|c| c.event.len())
        .max()
        .unwrap_or(5)
        .clamp(5, if width < 120 { 18 } else { 36 });
    let wo = width.saturating_sub(2 + wt + wa + wv + we + 4);
    let mut lines = vec![Line::styled(
        format!(
            "  {} {} {} {} {}",
            pad("TIME", wt),
            pad("ACTOR", wa),
            pad("VIA", wv),
            pad("EVENT", we),
            pad("OBSERVED", wo)
        ),
        app.theme.header,
    )];
    for (n, c) in rows.iter().enumerate() {
        let i = offset + n;
        let selected = i == o.sel;
        let l = Line::from(vec![
            Span::raw(if selected { "▶ " } else { "  " }),
            Span::raw(pad(&c.time, wt)),
            Span::raw(" "),
            Span::raw(pad(&c.actor, wa)),
            Span::raw(" "),
            Span::raw(pad(&c.via, wv)),
            Span::raw(" "),
            Span::raw(pad(&c.event, we)),
            Span::raw(" "),
            Span::styled(pad(&c.observed, wo), app.theme.muted),
        ]);
        lines.push(if selected {
            l.style(app.theme.selected.add_modifier(Modifier::BOLD))
        } else {
            l
        });
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// Why the board is empty, and the style to say it in.
fn empty_message(app: &App) -> (String, Style) {
    let failing = super::chrome::failing_sources(app);
    let total = app.feed.total();
    if !failing.is_empty() {
        return (
            format!(
                "No open drifts, and it may not be quiet: {} of {} sources failing ({}). 4 (Log) has the errors.",
                failing.len(),
                app.meta.live_sources.len(),
                failing.join("; ")
            ),
            app.theme.error,
        );
    }
    let mut msg = format!(
        "No open drifts — {total} alert{} in the feed (v shows them).",
        if total == 1 { "" } else { "s" }
    );
    if app.meta.store.is_none() {
        msg.push_str(
            " Drifts are kept in the store, and this profile has none (add `store:`): watch the feed.",
        );
    } else if total == 0 {
        let _ = write!(
            msg,
            " {} events read, {} parsed; a drift shows here as soon as one is detected.",
            app.stats.records_read, app.stats.parsed
        );
    } else {
        msg.push_str(
            " A drift stays here from its first alert until it is reverted, applied, accepted or resolved by hand.",
        );
    }
    (msg, app.theme.muted)
}
