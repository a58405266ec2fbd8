//! The attribute diff: Terraform state on the left, observed on the right (or unified), with
//! changed words underlined so the change reads without colour.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use similar::ChangeTag;

use crate::alert::AlertKind;
use crate::tui::app::App;
use crate::tui::diff::{self, Seg};

fn side_style(app: &App, tag: ChangeTag) -> Style {
    match tag {
        ChangeTag::Equal => Style::default(),
        ChangeTag::Delete => app.theme.removed,
        ChangeTag::Insert => app.theme.added,
    }
}

fn marker(tag: ChangeTag) -> &'static str {
    match tag {
        ChangeTag::Equal => "  ",
        ChangeTag::Delete => "- ",
        ChangeTag::Insert => "+ ",
    }
}

/// Splits a line's segments into chunks of at most `width` characters (wrapping).
fn wrap_segs(segs: &[Seg], width: usize) -> Vec<Vec<(bool, String)>> {
    let width = width.max(1);
    let mut out: Vec<Vec<(bool, String)>> = vec![Vec::new()];
    let mut used = 0;
    for s in segs {
        let mut cur = String::new();
        for ch in s.text.chars() {
            if used == width {
                if !cur.is_empty()
                    && let Some(l) = out.last_mut()
                {
                    l.push((s.emph, std::mem::take(&mut cur)));
                }
                out.push(Vec::new());
                used = 0;
            }
            cur.push(ch);
            used += 1;
        }
        if !cur.is_empty()
            && let Some(l) = out.last_mut()
        {
            l.push((s.emph, cur));
        }
    }
    out
}

fn cell_spans(app: &App, line: Option<&diff::Line>, width: usize) -> Vec<Vec<Span<'static>>> {
    let Some(line) = line else {
        return vec![vec![Span::raw(" ".repeat(width + 2))]];
    };
    let base = side_style(app, line.tag);
    let chunks = wrap_segs(&line.segs, width);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut spans = vec![Span::styled(
                if i == 0 { marker(line.tag) } else { "  " },
                base,
            )];
            let mut used = 0;
            for (emph, text) in chunk {
                used += text.chars().count();
                let st = if emph && line.tag != ChangeTag::Equal {
                    base.add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
                } else {
                    base
                };
                spans.push(Span::styled(text, st));
            }
            spans.push(Span::raw(" ".repeat(width.saturating_sub(used))));
            spans
        })
        .collect()
}

/// Draws the diff of the selected alert.
pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(alert) = app.selected() else {
        f.render_widget(
            Paragraph::new("No alert selected.").style(app.theme.muted),
            area,
        );
        return;
    };
    let diffs = app
        .detail
        .as_ref()
        .map(|(_, d)| d.as_slice())
        .unwrap_or_default();
    let mut lines: Vec<Line<'static>> = Vec::new();
    if diffs.is_empty() {
        let text = match alert.kind {
            AlertKind::ManagedResourceDeleted => format!(
                "{} was deleted outside Terraform: state has it, the cloud no longer does. No attribute diff.",
                alert
                    .resource
                    .address
                    .as_deref()
                    .unwrap_or(&alert.resource.id)
            ),
            AlertKind::UnmanagedChange => format!(
                "{} {} is not managed by any loaded state ({}): nothing to diff against.",
                alert.resource.rtype, alert.resource.id, alert.event.name
            ),
            AlertKind::AttributeDrift => {
                "The event changed the resource but carried no attribute values.".into()
            }
        };
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
        return;
    }
    let total = usize::from(area.width);
    let col = total.saturating_sub(1) / 2;
    let text_w = col.saturating_sub(2).max(1);
    for d in diffs {
        lines.push(Line::from(vec![
            Span::styled(format!("▸ {}", d.path), app.theme.header),
            Span::styled(
                format!(
                    "  ({} line{} changed)",
                    d.changed,
                    if d.changed == 1 { "" } else { "s" }
                ),
                app.theme.muted,
            ),
        ]));
        if app.unified {
            lines.push(Line::from(vec![
                Span::styled("- state (Terraform)  ", app.theme.removed),
                Span::styled("+ observed (event)", app.theme.added),
            ]));
            for l in &d.unified {
                let base = side_style(app, l.tag);
                let mut spans = vec![Span::styled(marker(l.tag), base)];
                for s in &l.segs {
                    let st = if s.emph && l.tag != ChangeTag::Equal {
                        base.add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
                    } else {
                        base
                    };
                    spans.push(Span::styled(s.text.clone(), st));
                }
                lines.push(Line::from(spans));
            }
        } else {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{:<w$}", "  state (Terraform)", w = col),
                    app.theme.removed,
                ),
                Span::styled("│", app.theme.border),
                Span::styled("  observed (event)", app.theme.added),
            ]));
            for row in &d.rows {
                let left = cell_spans(app, row.left.as_ref(), text_w);
                let right = cell_spans(app, row.right.as_ref(), text_w);
                let n = left.len().max(right.len());
                for i in 0..n {
                    let mut spans = left
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| vec![Span::raw(" ".repeat(col))]);
                    spans.push(Span::styled("│", app.theme.border));
                    spans.extend(right.get(i).cloned().unwrap_or_default());
                    lines.push(Line::from(spans));
                }
            }
        }
        lines.push(Line::raw(""));
    }
    let scroll = super::clamp_scroll(&lines, area, app.unified, app.detail_scroll);
    let para = Paragraph::new(lines).scroll((scroll, 0));
    let para = if app.unified {
        para.wrap(Wrap { trim: false })
    } else {
        para
    };
    f.render_widget(para, area);
}
