//! The Now board's keys for [`App`]: moving, acknowledging, snoozing and resolving drifts (one,
//! or each drift of a resource row) through [`Effect::DriftAct`], opening a drift's latest alert
//! in the details, and copying the board as Markdown.

use std::fmt::Write as _;

use chrono::Duration;

use super::{App, Effect, Focus, View};
use crate::drift::Status as DriftStatus;
use crate::store::DriftAction;
use crate::tui::feed::Handled;
use crate::tui::keymap::Context;
use crate::tui::now::{BoardRow, Target};

impl App {
    /// Keeps the details on the selected drift's latest alert: where the feed holds it, else
    /// re-read from the store (once).
    pub(super) fn sync_target(&mut self) {
        let want = self
            .now_board
            .focus_drift()
            .and_then(|i| self.drifts.get(i))
            .map(|d| d.last_alert_id.clone());
        let Some(id) = want else {
            self.now_board.target = None;
            return;
        };
        let (total, dropped) = (self.feed.total(), self.feed.dropped());
        let mut t = match self.now_board.target.take() {
            Some(t) if t.alert_id == id => t,
            _ => {
                self.detail = None;
                Target {
                    alert_id: id.clone(),
                    ..Target::default()
                }
            }
        };
        let still = t
            .idx
            .is_some_and(|i| self.feed.entry(i).is_some_and(|e| e.alert.id == id));
        if !still && t.loaded.is_none() {
            if t.idx.is_some() {
                // Old entries were dropped and indices moved: search everything again.
                t.idx = self.feed.find_from(&id, 0);
            } else if t.scanned != (total, dropped) {
                // Only entries not searched yet (indices shift down as old ones drop).
                let start = t
                    .scanned
                    .0
                    .saturating_sub(dropped.saturating_sub(t.scanned.1));
                t.idx = self.feed.find_from(&id, start);
            }
            t.scanned = (total, dropped);
            if t.idx.is_none() && !t.requested {
                t.requested = true;
                self.effects.push(Effect::LoadAlert { id: id.clone() });
            }
        }
        self.now_board.target = Some(t);
    }

    /// Acknowledges, snoozes or resolves the drifts of the selected row; `verb` for messages.
    pub(super) fn drift_act(&mut self, action: DriftAction, verb: &str) {
        if self.meta.readonly {
            self.refuse_readonly(verb);
            return;
        }
        let rows = self.now_board.selected_drifts();
        if rows.is_empty() {
            self.message = Some(("No drift selected".into(), true));
            return;
        }
        let by = Handled {
            who: crate::tui::run::who(),
            at: self.now,
        };
        let mut n = 0usize;
        let mut skipped = 0usize;
        for i in rows {
            let Some(d) = self.drifts.get(i) else {
                continue;
            };
            let already = match action {
                DriftAction::Acknowledge => d.status == DriftStatus::Acknowledged,
                DriftAction::Snooze(_) | DriftAction::Resolve => false,
            };
            if already {
                skipped += 1;
                continue;
            }
            if !matches!(action, DriftAction::Resolve) {
                self.now_board.known.entry(d.id.clone()).or_default().by = Some(by.clone());
            }
            self.effects.push(Effect::DriftAct {
                id: d.id.clone(),
                action,
                verb: verb.to_string(),
            });
            n += 1;
        }
        self.message = Some(match (n, skipped) {
            (0, _) => (format!("Already {verb}"), false),
            (1, 0) => (format!("Drift {verb} (saving…)"), false),
            (n, 0) => (format!("{n} drifts {verb} (saving…)"), false),
            (n, s) => (
                format!("{n} drifts {verb} (saving…); {s} already were"),
                false,
            ),
        });
    }

    /// Snoozes the selected drifts for `d` (`:snooze 2h` on the board; `s` asks for it).
    pub fn snooze_drifts(&mut self, d: Duration, label: &str) {
        self.drift_act(
            DriftAction::Snooze(self.now + d),
            &format!("snoozed for {label}"),
        );
    }

    /// Enter on the board: the details show the drift's latest alert; focus them.
    fn open_drift(&mut self) {
        if self.now_board.focus_drift().is_none() {
            self.message = Some((
                "No drift selected: the board is empty (v shows the live feed)".into(),
                true,
            ));
            return;
        }
        self.sync_target();
        self.focus = Focus::Detail;
        if self.selected().is_none() {
            self.message = Some((
                "The drift's latest alert is not in the feed: re-reading it from the store…".into(),
                false,
            ));
        }
    }

    /// The board as a Markdown table.
    #[must_use]
    pub fn board_markdown(&self) -> String {
        let (open, critical, acked, snoozed) = crate::tui::now::NowBoard::counts(&self.drifts);
        let mut title = format!(
            "Open drifts ({}): {open} open · {critical} critical · {acked} acknowledged",
            self.meta.profile
        );
        if snoozed > 0 {
            let _ = write!(title, " · {snoozed} snoozed");
        }
        let _ = write!(title, " — {} UTC", self.now.format("%Y-%m-%d %H:%M"));
        let known = |i: usize| {
            let d = self.drifts.get(i)?;
            let k = self.now_board.known.get(&d.id).cloned().unwrap_or_default();
            Some((
                d.severity.as_str().to_string(),
                crate::tui::now::cells(d, &k, self.now),
            ))
        };
        crate::tui::markdown::board(&title, &self.now_board.rows, &known)
    }

    /// The feed as filtered on screen, as a Markdown table.
    #[must_use]
    pub fn feed_markdown(&self) -> String {
        let mut title = format!(
            "Drift feed ({}): {} of {} alerts",
            self.meta.profile,
            self.feed.shown(),
            self.feed.total()
        );
        if !self.filter_text.is_empty() {
            let _ = write!(title, ", filter `{}`", self.filter_text);
        }
        crate::tui::markdown::feed(
            &title,
            self.feed.window(0, self.feed.shown()),
            self.feed.shown(),
            self.now,
        )
    }

    /// `M`: the board, the filtered feed, or (from the details) the alert, as Markdown.
    pub(super) fn copy_markdown(&mut self, ctx: Context) {
        let (what, text) = match (ctx, self.view) {
            (Context::Detail, _) => {
                let status = self
                    .selected_index()
                    .and_then(|i| self.feed.entry(i))
                    .map_or("", |e| e.status.label());
                match self.selected() {
                    Some(a) => ("alert as Markdown", crate::tui::markdown::alert(a, status)),
                    None => {
                        self.message = Some(("No alert selected".into(), true));
                        return;
                    }
                }
            }
            (_, View::Now) => ("Now board as Markdown", self.board_markdown()),
            (_, View::Feed) => ("feed as Markdown", self.feed_markdown()),
        };
        self.effects.push(Effect::Copy { what, text });
    }

    /// The Now board's keys; returns whether `action` was one of them.
    pub(super) fn board_action(&mut self, action: &str, page: usize) -> bool {
        let half = (page / 2).max(1).cast_signed();
        match action {
            "down" => self.now_board.move_sel(1),
            "up" => self.now_board.move_sel(-1),
            "top" => self.now_board.sel = 0,
            "bottom" => self.now_board.move_sel(isize::MAX / 2),
            "page_down" => self.now_board.move_sel(page.cast_signed()),
            "page_up" => self.now_board.move_sel(-page.cast_signed()),
            "half_down" => self.now_board.move_sel(half),
            "half_up" => self.now_board.move_sel(-half),
            "open" => self.open_drift(),
            "ack" => self.drift_act(DriftAction::Acknowledge, "acknowledged"),
            "snooze" => {
                if self.now_board.selected_drifts().is_empty() {
                    self.message = Some(("No drift selected".into(), true));
                } else {
                    // Ask how long, on the command line (Enter runs, Esc cancels).
                    self.input = Some((super::InputKind::Command, "snooze 1h".into()));
                }
            }
            "resolve" => self.drift_act(DriftAction::Resolve, "resolved"),
            _ => return false,
        }
        true
    }

    /// A click on the board's row at screen row `row` (the board's area is the feed's).
    pub(super) fn board_click(&mut self, row: u16) {
        let area = self.feed_area.get();
        let first = area.y + 2;
        if row >= first {
            let pos = self.now_board.offset.get() + usize::from(row - first);
            if pos < self.now_board.rows.len() {
                self.now_board.sel = pos;
            }
        }
    }

    /// Whether the selected board row is a resource row (its keys act on each drift).
    #[must_use]
    pub fn board_on_resource(&self) -> bool {
        matches!(
            self.now_board.rows.get(self.now_board.sel),
            Some(BoardRow::Resource { .. })
        )
    }
}
