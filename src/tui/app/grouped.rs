//! The feed grouped by drift or by actor session (issue 16's triage grouping): the rows built
//! from the filtered view with [`crate::tui::group`], the selection, expanded groups, and the
//! keys that act on a whole group.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use super::{App, Focus};
use crate::tui::feed::{Feed, Status, resource_label};
use crate::tui::group::{self, Group, GroupBy, Item, SESSION_GAP};

/// One row of the grouped feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedRow {
    /// A group (index into [`FeedGroups::groups`]).
    Group(usize),
    /// An alert of an expanded group (feed entry index).
    Alert(u32),
}

/// The grouped feed.
#[derive(Debug, Default)]
pub struct FeedGroups {
    /// None, by drift, or by actor session.
    pub by: GroupBy,
    /// The groups, in display order.
    pub groups: Vec<Group>,
    /// Rows: each group, then its alerts when expanded.
    pub rows: Vec<FeedRow>,
    /// Selected row.
    pub sel: usize,
    /// Render-derived: first visible row.
    pub offset: Cell<usize>,
    /// Keys of the expanded groups.
    pub expanded: HashSet<String>,
    /// The feed generation the rows were built from (rebuilt when it moves).
    built: Option<(u64, GroupBy)>,
}

/// What a drift group is about: the drift id, else resource and kind (an alert without one).
fn drift_key(e: &crate::tui::feed::Entry) -> String {
    match &e.alert.drift_id {
        Some(id) => id.clone(),
        None => format!("{}|{}", resource_label(&e.alert), e.alert.kind.as_str()),
    }
}

impl FeedGroups {
    /// Whether the feed is grouped.
    #[must_use]
    pub fn active(&self) -> bool {
        self.by != GroupBy::None
    }

    /// Rebuilds the groups when the feed changed since the last build.
    pub fn regroup(&mut self, feed: &Feed) {
        if !self.active() || self.built == Some((feed.generation(), self.by)) {
            return;
        }
        let selected = self.rows.get(self.sel).map(|r| self.row_key(*r));
        let idx: Vec<u32> = feed.view_indices().collect();
        let keys: Vec<String> = match self.by {
            GroupBy::Drift => idx
                .iter()
                .map(|i| feed.entry(*i).map(drift_key).unwrap_or_default())
                .collect(),
            _ => Vec::new(),
        };
        let items: Vec<Item<'_>> = idx
            .iter()
            .enumerate()
            .filter_map(|(n, i)| {
                let e = feed.entry(*i)?;
                Some(Item {
                    idx: *i,
                    time: e.alert.time,
                    severity: e.alert.severity,
                    unhandled: e.status == Status::New,
                    key: keys.get(n).map_or("", String::as_str),
                    actor: crate::tui::feed::actor_label(&e.alert),
                    via: e.alert.actor.via,
                })
            })
            .collect();
        self.groups = match self.by {
            GroupBy::Drift => group::by_key(&items),
            GroupBy::Session => group::sessions(&items, SESSION_GAP),
            GroupBy::None => Vec::new(),
        };
        self.rows.clear();
        for (gi, g) in self.groups.iter().enumerate() {
            self.rows.push(FeedRow::Group(gi));
            if self.expanded.contains(&g.key) {
                self.rows
                    .extend(g.members.iter().map(|m| FeedRow::Alert(*m)));
            }
        }
        self.built = Some((feed.generation(), self.by));
        if let Some(k) = selected
            && let Some(p) = self.rows.iter().position(|r| self.row_key(*r) == k)
        {
            self.sel = p;
        }
        self.sel = self.sel.min(self.rows.len().saturating_sub(1));
    }

    /// Forces a rebuild at the next [`FeedGroups::regroup`].
    pub fn invalidate(&mut self) {
        self.built = None;
    }

    fn row_key(&self, r: FeedRow) -> String {
        match r {
            FeedRow::Group(g) => format!("g:{}", self.groups.get(g).map_or("", |g| &g.key)),
            FeedRow::Alert(i) => format!("a:{i}"),
        }
    }

    /// The selected group (on its row or one of its alerts' rows).
    #[must_use]
    pub fn selected_group(&self) -> Option<&Group> {
        match self.rows.get(self.sel)? {
            FeedRow::Group(g) => self.groups.get(*g),
            FeedRow::Alert(_) => None,
        }
    }

    /// The selected alert: the row's, or a group's newest.
    #[must_use]
    pub fn selected_index(&self, feed: &Feed) -> Option<u32> {
        match self.rows.get(self.sel)? {
            FeedRow::Alert(i) => Some(*i),
            FeedRow::Group(g) => self.groups.get(*g).and_then(|g| {
                g.members
                    .iter()
                    .copied()
                    .max_by_key(|m| feed.entry(*m).map(|e| (e.alert.time, *m)))
            }),
        }
    }

    /// Moves the selection (clamped).
    pub fn move_sel(&mut self, delta: isize) {
        let max = self.rows.len().saturating_sub(1);
        self.sel = self.sel.saturating_add_signed(delta).min(max);
    }

    /// A group row's text: drift groups `× 14 · ADDRESS · ATTR · first … · last …`, sessions
    /// `alice · console · 09:00–09:12 · 40 changes · 3 critical`; then the unhandled count.
    #[must_use]
    pub fn label(&self, g: &Group, feed: &Feed, now: DateTime<Utc>) -> String {
        let mut s = match self.by {
            GroupBy::Session => group::session_label(g, now),
            _ => {
                let what = g
                    .members
                    .first()
                    .and_then(|m| feed.entry(*m))
                    .map(|e| {
                        let a = &e.alert;
                        let attr = a
                            .diffs
                            .first()
                            .map_or_else(|| a.kind.as_str().to_string(), |d| d.path.clone());
                        format!("{} · {attr}", resource_label(a))
                    })
                    .unwrap_or_default();
                let lbl = group::drift_label(g, now);
                let (count, times) = lbl.split_once(" · ").unwrap_or((&lbl, ""));
                format!("{count} · {what} · {times}")
            }
        };
        if g.unhandled > 0 {
            let _ = write!(s, " · {} new", g.unhandled);
        }
        s
    }
}

impl App {
    /// `b`: none → by drift → by actor session.
    pub(super) fn cycle_grouping(&mut self) {
        self.groups.by = self.groups.by.next();
        self.groups.invalidate();
        self.groups.sel = 0;
        self.groups.regroup(&self.feed);
        self.message = Some((
            match self.groups.by {
                GroupBy::None => "Feed: one row per alert".to_string(),
                b => format!(
                    "Feed grouped {}: {} groups (Enter expands, a/s/x act on the whole group)",
                    b.label(),
                    self.groups.groups.len()
                ),
            },
            false,
        ));
    }

    /// The grouped feed's keys; returns whether `action` was handled here.
    pub(super) fn grouped_action(&mut self, action: &str, page: usize) -> bool {
        self.groups.regroup(&self.feed);
        let half = (page / 2).max(1).cast_signed();
        match action {
            "down" => self.groups.move_sel(1),
            "up" => self.groups.move_sel(-1),
            "top" => self.groups.sel = 0,
            "bottom" => self.groups.move_sel(isize::MAX / 2),
            "page_down" => self.groups.move_sel(page.cast_signed()),
            "page_up" => self.groups.move_sel(-page.cast_signed()),
            "half_down" => self.groups.move_sel(half),
            "half_up" => self.groups.move_sel(-half),
            "open" => match self.groups.selected_group().map(|g| g.key.clone()) {
                Some(k) => {
                    if !self.groups.expanded.remove(&k) {
                        self.groups.expanded.insert(k);
                    }
                    self.groups.invalidate();
                    self.groups.regroup(&self.feed);
                }
                None => self.focus = Focus::Detail,
            },
            "ack" | "snooze" | "resolve" if self.groups.selected_group().is_some() => {
                self.group_status(action);
            }
            _ => return false,
        }
        if !matches!(action, "ack" | "snooze" | "resolve" | "open") {
            self.follow = false;
        }
        true
    }

    /// Sets the status of every alert of the selected group: to `action`'s status, or back to
    /// new when every one already has it (a toggle, like a single alert).
    fn group_status(&mut self, action: &str) {
        let Some(members) = self.groups.selected_group().map(|g| g.members.clone()) else {
            return;
        };
        let (target, verb) = match action {
            "ack" => (Status::Acked, "acknowledged"),
            "snooze" => (
                Status::Snoozed(self.now + Duration::hours(1)),
                "snoozed for 1h",
            ),
            _ => (Status::Resolved, "resolved"),
        };
        let same = |s: Status| std::mem::discriminant(&s) == std::mem::discriminant(&target);
        let all = members
            .iter()
            .all(|m| self.feed.entry(*m).is_some_and(|e| same(e.status)));
        let (new, verb) = if all {
            (Status::New, "reopened")
        } else {
            (target, verb)
        };
        let mut n = 0usize;
        for m in members {
            if self.feed.entry(m).is_some_and(|e| e.status != new) {
                self.change_status(m, new, verb);
                n += 1;
            }
        }
        if !self.meta.readonly {
            self.message = Some((
                format!(
                    "{n} alert{} of the group {verb}{}",
                    if n == 1 { "" } else { "s" },
                    if self.meta.store.is_some() {
                        " (saving…)"
                    } else {
                        " (in memory only: no store configured)"
                    }
                ),
                false,
            ));
        }
    }

    /// A click on the grouped feed's row at screen row `row`.
    pub(super) fn grouped_click(&mut self, row: u16) {
        let first = self.feed_area.get().y + 2;
        if row >= first {
            let pos = self.groups.offset.get() + usize::from(row - first);
            if pos < self.groups.rows.len() {
                self.groups.sel = pos;
                self.follow = false;
            }
        }
    }
}
