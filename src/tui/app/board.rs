//! The Now board for [`App`]: the drift set as it changes (a drift that resolves stays, faded,
//! for [`FADE`]), its keys — moving, acknowledging, snoozing and resolving drifts (one, or each
//! drift of a resource row) through [`Effect::DriftAct`], `Enter` listing a drift's
//! occurrences ([`Effect::LoadOccurrences`]) and again focusing the details on one — and copying
//! the board as Markdown.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::Duration;

use super::{App, Effect, Focus, View};
use crate::alert::Alert;
use crate::drift::{Drift, Status as DriftStatus};
use crate::store::DriftAction;
use crate::tui::feed::Handled;
use crate::tui::keymap::Context;
use crate::tui::now::{BoardRow, FADE, Occurrences, Target};

impl App {
    /// Whether the monitor keeps showing resolved drift `d` (it learned of the resolution less
    /// than [`FADE`] ago).
    fn still_fading(&self, id: &str) -> bool {
        self.now_board
            .known
            .get(id)
            .and_then(|k| k.faded_at)
            .is_some_and(|t| self.now - t < FADE)
    }

    /// Marks `d` resolved now (unless already), for the fade-out.
    fn note_resolved(&mut self, id: &str) {
        let k = self.now_board.known.entry(id.to_string()).or_default();
        if k.faded_at.is_none() {
            k.faded_at = Some(self.now);
        }
    }

    fn set_drifts(&mut self, old: &[Drift], mut next: Vec<Drift>) {
        next.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
        self.drifts = next;
        self.now_board.rebuild(old, &self.drifts);
    }

    /// [`super::Action::Drifts`]: the unresolved set replaces the board's; a resolved drift in
    /// it (one that left the set since the last load, as the in-process backend reports) or
    /// already fading stays until it fades out. Drifts never seen unresolved are not shown.
    pub(super) fn on_drifts(&mut self, list: Vec<Drift>) {
        let old = std::mem::take(&mut self.drifts);
        let had: HashSet<&str> = old.iter().map(|d| d.id.as_str()).collect();
        let mut next = Vec::with_capacity(list.len());
        let mut resolved = Vec::new();
        for d in list {
            if d.is_unresolved() {
                next.push(d);
            } else if had.contains(d.id.as_str()) {
                resolved.push(d);
            }
        }
        let listed: HashSet<String> = next
            .iter()
            .chain(resolved.iter())
            .map(|d| d.id.clone())
            .collect();
        let kept: Vec<Drift> = old
            .iter()
            .filter(|d| !d.is_unresolved() && !listed.contains(&d.id))
            .cloned()
            .collect();
        for d in &resolved {
            self.note_resolved(&d.id);
        }
        for d in &next {
            if let Some(k) = self.now_board.known.get_mut(&d.id) {
                k.faded_at = None;
            }
        }
        next.extend(resolved);
        next.extend(kept.into_iter().filter(|d| self.still_fading(&d.id)));
        self.set_drifts(&old, next);
    }

    /// [`super::Action::DriftChanged`]: an unresolved drift is added or replaced; one on the
    /// board that resolved stays, fading, with its reason.
    pub(super) fn on_drift_changed(&mut self, d: Drift) {
        let old = self.drifts.clone();
        let was = old.iter().any(|x| x.id == d.id);
        let mut next: Vec<Drift> = old.iter().filter(|x| x.id != d.id).cloned().collect();
        if d.is_unresolved() {
            if let Some(k) = self.now_board.known.get_mut(&d.id) {
                k.faded_at = None;
            }
            next.push(d);
        } else if was {
            self.note_resolved(&d.id);
            next.push(d);
        }
        self.set_drifts(&old, next);
    }

    /// On a tick: resolved drifts leave the board [`FADE`] after they resolved. Returns whether
    /// the board shows any (their "2m ago" moves on).
    pub(super) fn fade_drifts(&mut self) -> bool {
        let fading = self.drifts.iter().any(|d| !d.is_unresolved());
        if !fading {
            return false;
        }
        let gone: Vec<String> = self
            .drifts
            .iter()
            .filter(|d| !d.is_unresolved() && !self.still_fading(&d.id))
            .map(|d| d.id.clone())
            .collect();
        if !gone.is_empty() {
            let old = self.drifts.clone();
            let next = old
                .iter()
                .filter(|d| !gone.contains(&d.id))
                .cloned()
                .collect();
            for id in &gone {
                if let Some(k) = self.now_board.known.get_mut(id) {
                    k.faded_at = None;
                }
            }
            self.set_drifts(&old, next);
        }
        true
    }

    /// [`super::Action::Occurrences`]: fills the open list (an answer for another drift, or
    /// after `Esc`, is dropped).
    pub(super) fn on_occurrences(
        &mut self,
        drift_id: &str,
        result: Result<Vec<Alert>, String>,
    ) -> bool {
        let Some(o) = self
            .now_board
            .occurrences
            .as_mut()
            .filter(|o| o.drift_id == drift_id)
        else {
            return false;
        };
        match result {
            Ok(list) => o.loaded(list),
            Err(e) => {
                self.message = Some((format!("Occurrences of {drift_id}: {e}"), true));
                o.error = Some(e);
            }
        }
        true
    }

    /// Keeps the details on the selected occurrence (the occurrence list is open), else on the
    /// selected drift's latest alert: where the feed holds it, else re-read from the store
    /// (once).
    pub(super) fn sync_target(&mut self) {
        if let Some(a) = self
            .now_board
            .occurrences
            .as_ref()
            .and_then(Occurrences::selected)
        {
            if self
                .now_board
                .target
                .as_ref()
                .is_none_or(|t| t.alert_id != a.id || t.loaded.is_none())
            {
                let t = Target {
                    alert_id: a.id.clone(),
                    loaded: Some(Box::new(a.clone())),
                    requested: true,
                    ..Target::default()
                };
                self.now_board.target = Some(t);
                self.detail = None;
            }
            return;
        }
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
            let already = d.status == DriftStatus::Resolved
                || match action {
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

    /// Enter on the board: lists the drift's occurrences (a resource row: its worst drift's);
    /// Enter on the list focuses the details, which show the selected occurrence.
    fn open_drift(&mut self) {
        if let Some(o) = &self.now_board.occurrences {
            if o.selected().is_some() {
                self.focus = Focus::Detail;
            } else {
                self.message = Some((
                    if o.alerts.is_none() && o.error.is_none() {
                        "Still reading the drift's occurrences…".into()
                    } else {
                        "No occurrence to open (Esc goes back to the board)".into()
                    },
                    true,
                ));
            }
            return;
        }
        let Some(d) = self
            .now_board
            .focus_drift()
            .and_then(|i| self.drifts.get(i))
        else {
            self.message = Some((
                "No drift selected: the board is empty (v shows the live feed)".into(),
                true,
            ));
            return;
        };
        let drift_id = d.id.clone();
        self.now_board.occurrences = Some(Occurrences::loading(&drift_id));
        self.effects.push(Effect::LoadOccurrences { drift_id });
    }

    /// The occurrence list's keys (while it is open); returns whether `action` was one.
    fn occurrences_action(&mut self, action: &str, page: usize) -> bool {
        let Some(o) = self.now_board.occurrences.as_mut() else {
            return false;
        };
        let half = (page / 2).max(1).cast_signed();
        match action {
            "down" => o.move_sel(1),
            "up" => o.move_sel(-1),
            "top" => o.sel = 0,
            "bottom" => o.move_sel(isize::MAX / 2),
            "page_down" => o.move_sel(page.cast_signed()),
            "page_up" => o.move_sel(-page.cast_signed()),
            "half_down" => o.move_sel(half),
            "half_up" => o.move_sel(-half),
            "back" => {
                self.now_board.occurrences = None;
                self.now_board.target = None;
                self.detail = None;
            }
            _ => return false,
        }
        true
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
        if self.occurrences_action(action, page) {
            return true;
        }
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
        if row >= first
            && let Some(o) = self.now_board.occurrences.as_mut()
        {
            let pos = o.offset.get() + usize::from(row - first);
            if pos < o.alerts.as_ref().map_or(0, Vec::len) {
                o.sel = pos;
            }
            return;
        }
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
