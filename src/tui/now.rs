//! The Now board's state: every unresolved drift, worst first (severity, then unhandled before
//! acknowledged or snoozed, then newest), grouped by resource, with the selection, who handled
//! what from this monitor, and the drift whose latest alert the details show. The rows and their
//! cells are computed here so the view (`ui/now.rs`) and the Markdown copy share them.
//!
//! A drift that resolves while the monitor is open stays, below the open ones and dimmed, with
//! how and by whom it ended, for [`FADE`]; `Enter` lists a drift's occurrences
//! ([`occurrences::Occurrences`]).

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::feed::Handled;
use super::group::{self, Item};
use crate::alert::{Alert, Severity, Via};
use crate::drift::{Drift, Status};

pub mod occurrences;
pub use occurrences::Occurrences;

/// How long a drift that resolved while the monitor is open stays on the board (dimmed, with
/// its reason): long enough for whoever watches to see it end and why, short enough that the
/// board stays about what is drifted now.
pub const FADE: chrono::Duration = chrono::Duration::minutes(10);

/// One row of the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardRow {
    /// A resource: its drifts follow (indices into the drift list, worst first).
    Resource {
        /// Address, or `type:id` when unmanaged.
        label: String,
        /// Its drifts.
        members: Vec<usize>,
    },
    /// One drift (index into the drift list).
    Drift(usize),
}

/// The resource a drift is on: its address, or `type:id` when unmanaged.
#[must_use]
pub fn resource_of(d: &Drift) -> String {
    match &d.address {
        Some(a) => a.clone(),
        None => format!("{}:{}", d.rtype, d.resource_id),
    }
}

/// Whether nobody has handled it yet.
#[must_use]
pub fn unhandled(d: &Drift) -> bool {
    d.status == Status::Open
}

/// The board's order, as a sort key: resolved (fading) drifts below every unresolved one, then
/// severity (worst first), unhandled before acknowledged or snoozed, newest first, then the id
/// (a total order: stable across reloads).
#[must_use]
pub fn rank(d: &Drift) -> (bool, Reverse<Severity>, bool, Reverse<DateTime<Utc>>, &str) {
    (
        d.status == Status::Resolved,
        Reverse(d.severity),
        !unhandled(d),
        Reverse(d.last_seen),
        d.id.as_str(),
    )
}

/// Indices of `drifts` in board order.
#[must_use]
pub fn order(drifts: &[Drift]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..drifts.len()).collect();
    idx.sort_by(|a, b| rank(&drifts[*a]).cmp(&rank(&drifts[*b])));
    idx
}

/// A short age: `45s`, `12m`, `2h13m`, `3d4h`.
#[must_use]
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `14:03` today, `Nov 26 14:03` otherwise.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%b %d %H:%M").to_string()
    }
}

/// One drift's row as text (the view styles it; the Markdown copy prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftCells {
    /// Resource (address or `type:id`).
    pub resource: String,
    /// Attribute path, `(resource)` for resource-level drifts.
    pub attribute: String,
    /// `● open`, `A acked by alice 14:03`, `Z until 15:00 by bob`.
    pub status: String,
    /// Since first seen.
    pub age: String,
    /// `×14`.
    pub count: String,
    /// `alice · console` (via when the latest alert is known).
    pub actor: String,
    /// Why it matters (rule, or the diff summarised).
    pub why: String,
}

/// What the monitor knows about a drift beyond the stored row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Who acknowledged or snoozed it from this monitor (the stored drift keeps no name).
    pub by: Option<Handled>,
    /// How its latest alert was made.
    pub via: Option<Via>,
    /// When this monitor learned it resolved (it fades out [`FADE`] later).
    pub faded_at: Option<DateTime<Utc>>,
}

/// The status cell: never colour alone (`●`, `A`, `Z`), with who and until when.
#[must_use]
pub fn status_text(d: &Drift, known: &Known, now: DateTime<Utc>) -> String {
    let by = known
        .by
        .as_ref()
        .map(|h| format!(" by {}", h.who.trim_end_matches(" (tui)")))
        .unwrap_or_default();
    match d.status {
        Status::Open => "● open".into(),
        Status::Acknowledged => format!("A acked{by} {}", when(d.updated_at, now)),
        Status::Snoozed => match d.snoozed_until {
            Some(t) => format!("Z until {}{by}", when(t, now)),
            None => format!("Z snoozed{by}"),
        },
        Status::Resolved => resolved_text(d, now),
    }
}

/// `resolved · reverted by bob 2m ago`: how a drift ended, who ended it, and when.
#[must_use]
pub fn resolved_text(d: &Drift, now: DateTime<Utc>) -> String {
    let mut s = String::from("resolved");
    if let Some(r) = d.resolved_reason {
        s.push_str(" · ");
        s.push_str(r.as_str());
    }
    if let Some(w) = d.resolved_by.as_deref().filter(|w| !w.is_empty()) {
        s.push_str(" by ");
        s.push_str(w);
    }
    if let Some(t) = d.resolved_at {
        s.push(' ');
        s.push_str(&age((now - t).num_seconds()));
        s.push_str(" ago");
    }
    s
}

/// The cells of one drift.
#[must_use]
pub fn cells(d: &Drift, known: &Known, now: DateTime<Utc>) -> DriftCells {
    let actor = d.actors.last().map_or("?", String::as_str);
    DriftCells {
        resource: resource_of(d),
        attribute: if d.attribute.is_empty() {
            "(resource)".into()
        } else {
            d.attribute.clone()
        },
        status: status_text(d, known, now),
        age: age((now - d.first_seen).num_seconds()),
        count: format!("×{}", d.occurrences),
        actor: match known.via {
            Some(v) => format!("{actor} · {}", crate::tui::filter::via_name(v)),
            None => actor.to_string(),
        },
        why: super::why::drift_why(d),
    }
}

/// The latest alert of the selected drift, for the details: where it is in the feed, or as
/// re-read from the store.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The alert's id.
    pub alert_id: String,
    /// Its feed entry, when the feed holds it.
    pub idx: Option<u32>,
    /// Re-read from the store (not in the feed).
    pub loaded: Option<Box<Alert>>,
    /// Asked the runtime to re-read it.
    pub requested: bool,
    /// Feed entries already searched (`total`, `dropped` then): only newer ones are searched
    /// again.
    pub scanned: (usize, usize),
}

/// The board.
#[derive(Debug, Default)]
pub struct NowBoard {
    /// Rows in display order.
    pub rows: Vec<BoardRow>,
    /// Selected row.
    pub sel: usize,
    /// Render-derived: first visible row.
    pub offset: Cell<usize>,
    /// What the monitor knows per drift id beyond the stored row.
    pub known: HashMap<String, Known>,
    /// The selected drift's latest alert.
    pub target: Option<Target>,
    /// `Enter` on a drift: its occurrences, in place of the rows until `Esc`.
    pub occurrences: Option<Occurrences>,
}

/// Marks the grouping key of a resolved drift's resource (never in an address or id).
const RESOLVED_GROUP: char = '\u{1f}';

fn row_key(row: &BoardRow, drifts: &[Drift]) -> String {
    match row {
        BoardRow::Resource { label, members } => {
            let resolved = members
                .first()
                .and_then(|i| drifts.get(*i))
                .is_some_and(|d| d.status == Status::Resolved);
            format!("r:{label}{}", if resolved { "\u{1f}" } else { "" })
        }
        BoardRow::Drift(i) => format!("d:{}", drifts.get(*i).map_or("", |d| d.id.as_str())),
    }
}

impl NowBoard {
    /// Rebuilds the rows from `drifts` (the new list), keeping the selected row when it is
    /// still there. `old` is the list the current rows index.
    pub fn rebuild(&mut self, old: &[Drift], drifts: &[Drift]) {
        let selected = self.rows.get(self.sel).map(|r| row_key(r, old));
        let order = order(drifts);
        // Resolved drifts group apart (a separate resource row below every open drift).
        let labels: Vec<String> = drifts
            .iter()
            .map(|d| {
                let mut l = resource_of(d);
                if d.status == Status::Resolved {
                    l.push(RESOLVED_GROUP);
                }
                l
            })
            .collect();
        let items: Vec<Item<'_>> = order
            .iter()
            .filter_map(|i| {
                let d = &drifts[*i];
                Some(Item {
                    idx: u32::try_from(*i).ok()?,
                    time: d.last_seen,
                    severity: d.severity,
                    unhandled: unhandled(d),
                    key: labels[*i].as_str(),
                    actor: "",
                    via: Via::Unknown,
                })
            })
            .collect();
        self.rows.clear();
        for g in group::by_key(&items) {
            let members: Vec<usize> = g.members.iter().map(|m| *m as usize).collect();
            self.rows.push(BoardRow::Resource {
                label: g.key.trim_end_matches(RESOLVED_GROUP).to_string(),
                members: members.clone(),
            });
            self.rows.extend(members.into_iter().map(BoardRow::Drift));
        }
        if let Some(key) = selected
            && let Some(pos) = self.rows.iter().position(|r| row_key(r, drifts) == key)
        {
            self.sel = pos;
        }
        self.sel = self.sel.min(self.rows.len().saturating_sub(1));
        // Forget what is known about drifts no longer open (bounded memory).
        if self.known.len() > drifts.len() * 2 + 1000 {
            let open: std::collections::HashSet<&str> =
                drifts.iter().map(|d| d.id.as_str()).collect();
            self.known.retain(|id, _| open.contains(id.as_str()));
        }
    }

    /// Indices (into the drift list) the selected row covers: one drift, or each drift of a
    /// resource.
    #[must_use]
    pub fn selected_drifts(&self) -> Vec<usize> {
        match self.rows.get(self.sel) {
            Some(BoardRow::Resource { members, .. }) => members.clone(),
            Some(BoardRow::Drift(i)) => vec![*i],
            None => Vec::new(),
        }
    }

    /// The drift whose alert the details show: the selected one, or a resource's worst.
    #[must_use]
    pub fn focus_drift(&self) -> Option<usize> {
        self.selected_drifts().first().copied()
    }

    /// Moves the selection by `delta` rows (clamped).
    pub fn move_sel(&mut self, delta: isize) {
        let max = self.rows.len().saturating_sub(1);
        self.sel = self.sel.saturating_add_signed(delta).min(max);
    }

    /// Counts for the title: (open, critical, acknowledged, snoozed).
    #[must_use]
    pub fn counts(drifts: &[Drift]) -> (usize, usize, usize, usize) {
        let n = |f: &dyn Fn(&Drift) -> bool| drifts.iter().filter(|d| f(d)).count();
        (
            n(&|d| d.is_unresolved()),
            n(&|d| d.is_unresolved() && d.severity == Severity::Critical),
            n(&|d| d.status == Status::Acknowledged),
            n(&|d| d.status == Status::Snoozed),
        )
    }

    /// Records the via of an alert's drifts (the board shows how the last change was made).
    pub fn note_alert(&mut self, a: &Alert) {
        for id in a.drift_id.iter().chain(a.drift_ids.iter()) {
            self.known.entry(id.clone()).or_default().via = Some(a.actor.via);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
