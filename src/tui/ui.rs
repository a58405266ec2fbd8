//! Drawing: one function from `&App` to a frame. Panes are in `ui/*`; nothing here mutates the
//! state except render-derived layout cells (areas and the feed's scroll offset).

mod chrome;
pub use chrome::{focused_context, hint_text};
mod detail;
mod diff;
pub mod enrich;
mod feed;
mod grouped;
mod now;
mod workspaces;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::app::{App, Focus, View};

/// Widths from which the feed and the details sit side by side.
const WIDE: u16 = 220;

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let [head, main, status, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let (feed_area, detail_area) = if app.zoom {
        match app.focus {
            Focus::Feed => (main, Rect::default()),
            Focus::Detail => (Rect::default(), main),
        }
    } else if main.width >= WIDE {
        let [a, b] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(main);
        (a, b)
    } else {
        // The board is the point of the Now view: it gets more of the height than the feed.
        let top = if app.view == View::Now { 60 } else { 45 };
        let parts = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Percentage(top),
                Constraint::Percentage(100 - top),
            ])
            .split(main);
        (parts[0], parts[1])
    };
    if app.workspaces.open {
        // The reconcile board takes the main panes; the feed's mouse areas are off meanwhile.
        app.feed_area.set(Rect::default());
        app.detail_area.set(Rect::default());
        workspaces::draw(f, app, main);
    } else {
        app.feed_area.set(feed_area);
        app.detail_area.set(detail_area);
        if feed_area.area() > 0 {
            match app.view {
                View::Now => now::draw(f, app, feed_area),
                View::Feed if app.groups.active() => grouped::draw(f, app, feed_area),
                View::Feed => feed::draw(f, app, feed_area),
            }
        }
        if detail_area.area() > 0 {
            detail::draw(f, app, detail_area);
        }
    }
    chrome::header(f, app, head);
    chrome::status_bar(f, app, status);
    chrome::bottom_line(f, app, bottom);
    if app.help {
        chrome::help(f, app, f.area());
    }
}

/// The scroll that keeps the last of `lines` on screen at most (`G` asks for "the end":
/// a large scroll clamped here). Wrapped lines count as many rows as they take.
pub(crate) fn clamp_scroll(
    lines: &[ratatui::text::Line<'_>],
    area: Rect,
    wrap: bool,
    want: u16,
) -> u16 {
    // Word wrapping takes more rows than width alone says: count on 4/5 of the width, so the
    // last line is always reachable.
    let w = usize::from(area.width.max(5)) * 4 / 5;
    let rows: usize = lines
        .iter()
        .map(|l| {
            if wrap {
                l.width().div_ceil(w).max(1)
            } else {
                1
            }
        })
        .sum();
    let max = rows.saturating_sub(usize::from(area.height));
    want.min(u16::try_from(max).unwrap_or(u16::MAX))
}

/// `s` cut or padded to `w` columns (display width).
pub(crate) fn pad(s: &str, w: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let total = ratatui::text::Span::raw(s).width();
    let cut = total > w;
    for c in s.chars() {
        let cw = ratatui::text::Span::raw(c.to_string()).width();
        if used + cw + usize::from(cut) > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    if cut && w > 0 {
        out.push('…');
        used += 1;
    }
    out.push_str(&" ".repeat(w.saturating_sub(used)));
    out
}

/// Cuts a string to `max` characters with an ellipsis.
pub(crate) fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The help popup's text as plain lines (generated from the keymap; for tests and docs).
#[must_use]
pub fn help_text(app: &App) -> String {
    chrome::help_lines(app)
        .iter()
        .map(|l| {
            l.spans
                .iter()
                .map(|s| s.content.as_ref())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
