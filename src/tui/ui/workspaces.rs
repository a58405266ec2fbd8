//! The workspaces view (`W`): the reconcile status board over the main panes — one row per
//! workspace (last run, duration, open drifts, "no event seen", result: in sync / N drifted /
//! error with the reason's first line), then the selected workspace's run in full (its time,
//! and every line of the error Terraform gave). Errors are red and never read as "in sync".

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::pad;
use crate::reconcile::board::BoardRow;
use crate::store::workspace_runs::RunResult;
use crate::tui::app::App;

/// `850ms`, `12.3s`, `2m05s`.
fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// `just now`, `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn ago(app: &App, r: &BoardRow) -> String {
    let s = (app.now - r.started_at).num_seconds();
    match s {
        i64::MIN..=4 => "just now".into(),
        5..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

fn result_style(app: &App, r: &BoardRow) -> Style {
    match r.result {
        RunResult::InSync => app.theme.ok,
        RunResult::Drifted => app.theme.removed,
        RunResult::Error => app.theme.error,
    }
}

fn title(app: &App) -> Line<'static> {
    let rows = &app.workspaces.rows;
    let count = |want: RunResult| rows.iter().filter(|r| r.result == want).count();
    let mut spans = vec![
        Span::styled(" Workspaces ", app.theme.header),
        Span::raw(format!("· {} reconciled · ", rows.len())),
        Span::styled(
            format!("{} in sync", count(RunResult::InSync)),
            app.theme.ok,
        ),
        Span::raw(" · "),
        Span::styled(
            format!("{} drifted", count(RunResult::Drifted)),
            app.theme.removed,
        ),
        Span::raw(" · "),
    ];
    let errors = count(RunResult::Error);
    spans.push(Span::styled(
        format!("{errors} error"),
        if errors > 0 {
            app.theme.error
        } else {
            Style::default()
        },
    ));
    spans.push(Span::styled(" · W closes ", app.theme.muted));
    Line::from(spans)
}

/// Column widths: workspace, last run, duration, open, no event; the result takes the rest.
fn widths(rows: &[BoardRow], width: usize) -> [usize; 6] {
    let name = rows
        .iter()
        .map(|r| Span::raw(r.workspace.as_str()).width())
        .max()
        .unwrap_or(0)
        .clamp(9, if width < 100 { 18 } else { 32 });
    let (last, dur, open, unseen) = (9, 7, 4, 8);
    // marker 2, and a space after each of the 5 fixed columns.
    let result = width.saturating_sub(2 + name + last + dur + open + unseen + 5);
    [name, last, dur, open, unseen, result]
}

fn table_lines(app: &App, inner: Rect) -> Vec<Line<'static>> {
    let v = &app.workspaces;
    let [wn, wl, wd, wo, wu, wr] = widths(&v.rows, usize::from(inner.width));
    let mut lines = vec![Line::styled(
        format!(
            "  {} {} {} {} {} {}",
            pad("WORKSPACE", wn),
            pad("LAST RUN", wl),
            pad("TOOK", wd),
            pad("OPEN", wo),
            pad("NO EVENT", wu),
            pad("RESULT", wr)
        ),
        app.theme.header,
    )];
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let offset = (v.sel + 1).saturating_sub(height);
    for (i, r) in v.rows.iter().enumerate().skip(offset).take(height) {
        let selected = i == v.sel;
        let row_style = if selected {
            app.theme.selected
        } else {
            Style::default()
        };
        let unseen = if r.unattributed > 0 {
            app.theme.removed
        } else {
            app.theme.muted
        };
        lines.push(
            Line::from(vec![
                Span::raw(if selected { "▶ " } else { "  " }),
                Span::styled(
                    format!("{} ", pad(&r.workspace, wn)),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!("{} ", pad(&ago(app, r), wl))),
                Span::raw(format!("{:>wd$} ", duration(r.duration_ms))),
                Span::raw(format!("{:>wo$} ", r.open_drifts)),
                Span::styled(format!("{:>wu$} ", r.unattributed), unseen),
                Span::styled(pad(&r.result_line(), wr), result_style(app, r)),
            ])
            .style(row_style),
        );
    }
    lines
}

/// The selected workspace's run in full.
fn detail_lines(app: &App, r: &BoardRow) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(r.workspace.clone(), app.theme.header),
        Span::raw(format!(
            " · last run {} · took {} · {} open drift(s) · {} with no event seen",
            r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            duration(r.duration_ms),
            r.open_drifts,
            r.unattributed,
        )),
    ])];
    match (&r.result, &r.error) {
        (RunResult::Error, Some(e)) => {
            lines.push(Line::styled(
                "The plan did not complete: this workspace's drift is unknown (not in sync).",
                app.theme.error,
            ));
            lines.extend(
                e.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| Line::styled(format!("  {l}"), app.theme.error)),
            );
        }
        (RunResult::Drifted, _) => lines.push(Line::styled(
            format!(
                "{} drifted attribute(s) or deleted resource(s); the Now board (v) lists the open ones with who changed them.",
                r.drifted
            ),
            app.theme.muted,
        )),
        _ => lines.push(Line::styled(
            "Terraform found nothing changed outside it.",
            app.theme.muted,
        )),
    }
    lines
}

/// Draws the view over `area` (the main panes).
pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let v = &app.workspaces;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border_focused)
        .title(title(app));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [banner, body] = Layout::vertical([
        Constraint::Length(u16::from(v.error.is_some())),
        Constraint::Min(1),
    ])
    .areas(inner);
    if let Some(e) = &v.error {
        f.render_widget(
            Paragraph::new(Line::styled(e.clone(), app.theme.error)),
            banner,
        );
    }
    if v.rows.is_empty() {
        let (text, style) = if !v.loaded {
            ("Reading the reconcile board…".to_string(), app.theme.muted)
        } else if v.error.is_some() {
            (String::new(), app.theme.muted)
        } else {
            (
                "No reconcile run yet. Name Terraform root modules under `workspaces:` in the profile, then run `tfdrift reconcile` (or set `reconcile: {every: 6h}` for the daemon's schedule).".to_string(),
                app.theme.muted,
            )
        };
        f.render_widget(
            Paragraph::new(text).style(style).wrap(Wrap { trim: true }),
            body,
        );
        return;
    }
    let detail = v
        .selected()
        .map(|r| detail_lines(app, r))
        .unwrap_or_default();
    // Wrapped rows the details take (plus the rule above them), leaving the table its header
    // and rows (at least three lines).
    let w = usize::from(body.width.max(1));
    let wrapped: usize = detail.iter().map(|l| l.width().div_ceil(w).max(1)).sum();
    let table_need = u16::try_from(v.rows.len() + 1).unwrap_or(u16::MAX).max(3);
    let detail_h = u16::try_from(wrapped + 1)
        .unwrap_or(u16::MAX)
        .min(body.height.saturating_sub(table_need.min(body.height / 2)));
    let [table, sep, info] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(u16::from(detail_h > 0)),
        Constraint::Length(detail_h.saturating_sub(1)),
    ])
    .areas(body);
    f.render_widget(Paragraph::new(table_lines(app, table)), table);
    if sep.height > 0 {
        f.render_widget(
            Paragraph::new(Line::styled(
                "─".repeat(usize::from(sep.width)),
                app.theme.border,
            )),
            sep,
        );
    }
    if info.height > 0 {
        f.render_widget(Paragraph::new(detail).wrap(Wrap { trim: false }), info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(125_000), "2m05s");
    }
}
