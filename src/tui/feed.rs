//! The feed's data: every alert received, its handling status (saved in the store by the
//! runtime when there is one, see `run::persist_status`), and an index of the alerts the filter keeps, in sort order.
//!
//! Built for 100k alerts: the filtered view is a `Vec<u32>` of entry indices kept sorted, new
//! alerts are inserted by binary search, typing more of a filter only re-checks the current
//! matches, and rendering only touches the visible rows.

use std::cmp::Ordering;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::alert::{Alert, Severity};

use super::filter::Filter;

mod slim;

/// What the on-call engineer did with an alert (the runtime saves it in the store, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Not handled.
    #[default]
    New,
    /// Acknowledged: someone is on it.
    Acked,
    /// Hidden from "unhandled" until the time given.
    Snoozed(DateTime<Utc>),
    /// Dealt with.
    Resolved,
}

impl Status {
    /// Short label with a distinct symbol each (never colour alone; acknowledged and
    /// resolved must not look alike).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "● new",
            Status::Acked => "A acknowledged",
            Status::Snoozed(_) => "Z snoozed",
            Status::Resolved => "R resolved",
        }
    }

    /// The one-character symbol of [`Status::label`] (the feed's status column).
    #[must_use]
    pub fn symbol(self) -> char {
        self.label().chars().next().unwrap_or(' ')
    }
}

/// Who set an alert's status, and when (shown in the details: "snoozed until … by …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Who (`alice (tui)`).
    pub who: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One alert with its status.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The alert as the pipeline produced it.
    pub alert: Alert,
    /// Handling status.
    pub status: Status,
    /// Who set the status and when (`None` while new, or unknown).
    pub by: Option<Handled>,
    /// "Why it matters", summarised once on arrival (see [`crate::tui::why::why`]).
    pub why: Box<str>,
    /// The alert was slimmed (enrichment, diff values, remediation dropped to bound memory):
    /// the details re-read it from the store.
    pub slim: bool,
}

/// Appends everything a free-text filter can find, lower-cased, to the arena `s`.
fn push_haystack(s: &mut String, a: &Alert) {
    let start = s.len();
    let _ = write!(
        s,
        "{} {} {} {} {} {} ",
        a.severity.as_str(),
        a.kind.as_str(),
        a.provider,
        a.resource.rtype,
        a.resource.id,
        crate::tui::filter::via_name(a.actor.via),
    );
    for (k, v) in &a.enrichment.tags {
        let _ = write!(s, "{k}={v} ");
    }
    for v in [
        a.enrichment.environment.as_deref(),
        a.enrichment.owner.as_deref(),
        a.enrichment.team.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        s.push_str(v);
        s.push(' ');
    }
    for part in [
        a.resource.address.as_deref(),
        a.actor.session.as_deref(),
        a.actor.email.as_deref(),
        a.actor.arn.as_deref(),
        a.actor.source_ip.as_deref(),
        a.event.region.as_deref(),
        a.event.account.as_deref(),
        Some(&a.event.name),
        Some(&a.event.service),
    ]
    .into_iter()
    .flatten()
    {
        s.push_str(part);
        s.push(' ');
    }
    for d in &a.diffs {
        s.push_str(&d.path);
        s.push(' ');
    }
    for r in &a.rules {
        s.push_str(r);
        s.push(' ');
    }
    s[start..].make_ascii_lowercase();
}

/// Sortable columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Event time (then arrival).
    #[default]
    Time,
    /// Severity, then time.
    Severity,
    /// Kind, then time.
    Kind,
    /// Resource address (or type/id), then time.
    Resource,
    /// Actor, then time.
    Actor,
}

impl SortKey {
    /// All keys, in the order `o` cycles through them.
    pub const ALL: [SortKey; 5] = [
        SortKey::Time,
        SortKey::Severity,
        SortKey::Kind,
        SortKey::Resource,
        SortKey::Actor,
    ];

    /// Column name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Severity => "severity",
            SortKey::Kind => "kind",
            SortKey::Resource => "resource",
            SortKey::Actor => "actor",
        }
    }

    /// Parses a column name or prefix.
    #[must_use]
    pub fn parse(s: &str) -> Option<SortKey> {
        let s = s.to_ascii_lowercase();
        if s.is_empty() {
            return None;
        }
        SortKey::ALL
            .into_iter()
            .find(|k| k.as_str().starts_with(&s) || (s == "sev" && *k == SortKey::Severity))
    }

    /// The next key (wraps).
    #[must_use]
    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}

/// The resource column: address when managed, else `type id`.
#[must_use]
pub fn resource_label(a: &Alert) -> String {
    match &a.resource.address {
        Some(addr) => addr.clone(),
        None => format!("{} {}", a.resource.rtype, a.resource.id),
    }
}

/// The actor column: session, email, or the last part of the ARN / principal.
#[must_use]
pub fn actor_label(a: &Alert) -> &str {
    let act = &a.actor;
    act.session
        .as_deref()
        .or(act.email.as_deref())
        .or_else(|| act.arn.as_deref().and_then(|x| x.rsplit('/').next()))
        .or(act.principal.as_deref())
        .unwrap_or("?")
}

/// The sort keys that live next to each other in memory.
#[derive(Debug, Clone, Copy)]
struct SortKeys {
    /// Event time, microseconds since the epoch.
    time: i64,
    severity: Severity,
    kind: crate::alert::AlertKind,
}

/// Counts per severity, for the title.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Index = `Severity as usize` (info … critical).
    pub by_severity: [usize; 5],
    /// Alerts still `New`.
    pub unhandled: usize,
}

/// All alerts plus the filtered, sorted view.
#[derive(Debug, Default)]
pub struct Feed {
    entries: Vec<Entry>,
    /// Every entry's lower-case search text, back to back: a full-text scan reads one
    /// contiguous buffer instead of chasing a pointer per alert (4× faster at 100k).
    hay: String,
    /// End offset of each entry's text in `hay`.
    hay_ends: Vec<usize>,
    /// Compact sort keys per entry, so sorting and inserting never chase alert pointers.
    keys: Vec<SortKeys>,
    /// Entry indices that pass the filter, ascending by the sort key.
    view: Vec<u32>,
    filter: Filter,
    sort: SortKey,
    /// Show the view reversed (newest first for time).
    descending: bool,
    counts: Counts,
    /// Keep full alerts for only the newest this many; older ones are slimmed (`None`: all
    /// full, when there is no store to re-read them from).
    full_kept: Option<usize>,
    /// Entries below this index are slimmed.
    slim_upto: usize,
    /// Most alerts held; past it the oldest tenth is dropped from memory (still in the store).
    max_held: usize,
    /// Alerts dropped from memory so far.
    dropped: usize,
    /// Bumped on every change to the entries, their statuses, the filter or the sort (groupings
    /// built over the view are rebuilt when it moves).
    generation: u64,
}

/// Most alerts the feed holds by default (see [`Feed::set_limits`]).
pub const MAX_HELD: usize = 150_000;

fn sev_index(s: Severity) -> usize {
    s as usize
}

impl Feed {
    /// An empty feed, newest first.
    #[must_use]
    pub fn new() -> Feed {
        Feed {
            descending: true,
            max_held: MAX_HELD,
            ..Feed::default()
        }
    }

    /// Alerts held.
    #[must_use]
    pub fn total(&self) -> usize {
        self.entries.len()
    }

    /// Alerts the filter keeps.
    #[must_use]
    pub fn shown(&self) -> usize {
        self.view.len()
    }

    /// Severity and unhandled counts over every alert.
    #[must_use]
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The active filter.
    #[must_use]
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Sort key and direction.
    #[must_use]
    pub fn sort(&self) -> (SortKey, bool) {
        (self.sort, self.descending)
    }

    fn cmp(&self, a: u32, b: u32) -> Ordering {
        let (ka, kb) = (&self.keys[a as usize], &self.keys[b as usize]);
        let primary = match self.sort {
            SortKey::Time => Ordering::Equal,
            SortKey::Severity => ka.severity.cmp(&kb.severity),
            SortKey::Kind => ka.kind.cmp(&kb.kind),
            SortKey::Resource => {
                let (x, y) = (
                    &self.entries[a as usize].alert,
                    &self.entries[b as usize].alert,
                );
                resource_label(x).cmp(&resource_label(y))
            }
            SortKey::Actor => {
                let (x, y) = (
                    &self.entries[a as usize].alert,
                    &self.entries[b as usize].alert,
                );
                actor_label(x).cmp(actor_label(y))
            }
        };
        primary.then(ka.time.cmp(&kb.time)).then(a.cmp(&b))
    }

    /// Adds an alert; returns its display position if the filter shows it.
    pub fn push(&mut self, alert: Alert) -> Option<usize> {
        self.generation += 1;
        let idx = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        push_haystack(&mut self.hay, &alert);
        self.hay_ends.push(self.hay.len());
        self.keys.push(SortKeys {
            time: alert.time.timestamp_micros(),
            severity: alert.severity,
            kind: alert.kind,
        });
        let entry = Entry {
            why: crate::tui::why::why(&alert).into_boxed_str(),
            alert,
            status: Status::New,
            by: None,
            slim: false,
        };
        self.counts.by_severity[sev_index(entry.alert.severity)] += 1;
        self.counts.unhandled += 1;
        self.entries.push(entry);
        self.slim_old();
        let keep = self.matches(idx);
        if !keep {
            return None;
        }
        let pos = self
            .view
            .binary_search_by(|probe| self.cmp(*probe, idx))
            .unwrap_or_else(|p| p);
        self.view.insert(pos, idx);
        Some(self.display_of(pos))
    }

    fn display_of(&self, view_index: usize) -> usize {
        if self.descending {
            self.view.len() - 1 - view_index
        } else {
            view_index
        }
    }

    /// The entry index shown at a display position.
    #[must_use]
    pub fn entry_index_at(&self, pos: usize) -> Option<u32> {
        if pos >= self.view.len() {
            return None;
        }
        let vi = if self.descending {
            self.view.len() - 1 - pos
        } else {
            pos
        };
        Some(self.view[vi])
    }

    /// The entry shown at a display position.
    #[must_use]
    pub fn at(&self, pos: usize) -> Option<&Entry> {
        self.entry_index_at(pos).map(|i| &self.entries[i as usize])
    }

    /// An entry's search text.
    #[must_use]
    pub fn haystack(&self, idx: u32) -> &str {
        let i = idx as usize;
        let start = if i == 0 { 0 } else { self.hay_ends[i - 1] };
        &self.hay[start..self.hay_ends[i]]
    }

    fn matches(&self, idx: u32) -> bool {
        let hay = self.haystack(idx);
        if !self.filter.matches_text(hay) {
            return false;
        }
        // Only facets need the alert itself (a pointer chase per alert).
        !self.filter.has_facets() || self.filter.matches(&self.entries[idx as usize], hay)
    }

    /// Why the filter keeps nothing: each term that no alert satisfies on its own, and the
    /// terms that are not understood. Empty when every term matches something (then only
    /// their combination is empty). A full scan per term: call it when the view is empty.
    #[must_use]
    pub fn explain_filter(&self) -> Vec<String> {
        let mut out = self.filter.problems.clone();
        for c in &self.filter.clauses {
            let any = (0..self.entries.len()).any(|i| {
                let idx = u32::try_from(i).unwrap_or(u32::MAX);
                Filter::clause_holds(c, &self.entries[i], self.haystack(idx))
            });
            if !any {
                out.push(if c.negated {
                    format!("'{}' excludes every alert", c.token)
                } else if c.token.contains(':') {
                    format!("'{}' matches no alert", c.token)
                } else {
                    format!(
                        "'{}' is in no alert field (type, id, address, actor, region, account, event, via, tags, rules, attributes)",
                        c.token
                    )
                });
            }
        }
        out
    }

    /// Entry by index.
    #[must_use]
    pub fn entry(&self, idx: u32) -> Option<&Entry> {
        self.entries.get(idx as usize)
    }

    /// Display position of an entry, if shown (linear: for selection after a re-sort only).
    #[must_use]
    pub fn position_of(&self, idx: u32) -> Option<usize> {
        let vi = self.view.iter().position(|v| *v == idx)?;
        Some(self.display_of(vi))
    }

    /// The change counter (see the field): equal values mean the same entries, statuses,
    /// filter and sort.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Entry indices in display order (the whole filtered view).
    pub fn view_indices(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.view.len()).filter_map(|p| self.entry_index_at(p))
    }

    /// The entry holding alert `id`, searching entries from `start` on, newest first (a
    /// drift's latest alert is usually recent).
    #[must_use]
    pub fn find_from(&self, id: &str, start: usize) -> Option<u32> {
        (start.min(self.entries.len())..self.entries.len())
            .rev()
            .find(|i| self.entries[*i].alert.id == id)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// Entries shown at display positions `start..start+len`.
    pub fn window(&self, start: usize, len: usize) -> impl Iterator<Item = &Entry> + '_ {
        (start..(start + len).min(self.view.len())).filter_map(|p| self.at(p))
    }

    /// Replaces the filter: re-checks only current matches when the new filter narrows the old.
    pub fn set_filter(&mut self, filter: Filter) {
        self.generation += 1;
        if self.filter.is_narrowed_by(&filter) {
            self.filter = filter;
            let mut view = std::mem::take(&mut self.view);
            view.retain(|i| self.matches(*i));
            self.view = view;
        } else {
            self.filter = filter;
            self.rebuild();
        }
    }

    /// Changes the sort.
    pub fn set_sort(&mut self, key: SortKey, descending: bool) {
        self.generation += 1;
        self.descending = descending;
        if key != self.sort {
            self.sort = key;
            let mut view = std::mem::take(&mut self.view);
            view.sort_unstable_by(|a, b| self.cmp(*a, *b));
            self.view = view;
        }
    }

    fn rebuild(&mut self) {
        self.generation += 1;
        let n = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let mut view: Vec<u32> = (0..n).filter(|i| self.matches(*i)).collect();
        if self.sort == SortKey::Time {
            // Mostly sorted already (arrival ≈ time): a stable sort is near linear.
            view.sort_by(|a, b| self.cmp(*a, *b));
        } else {
            view.sort_unstable_by(|a, b| self.cmp(*a, *b));
        }
        self.view = view;
    }

    /// Sets an entry's status and who set it; re-filters that entry. Returns the old status.
    pub fn set_status_by(
        &mut self,
        idx: u32,
        status: Status,
        by: Option<Handled>,
    ) -> Option<Status> {
        let e = self.entries.get_mut(idx as usize)?;
        e.by = if status == Status::New { None } else { by };
        self.set_status(idx, status)
    }

    /// Sets an entry's status; re-filters that entry. Returns the old status.
    pub fn set_status(&mut self, idx: u32, status: Status) -> Option<Status> {
        let e = self.entries.get_mut(idx as usize)?;
        let old = e.status;
        if status == Status::New {
            e.by = None;
        }
        if old == status {
            return Some(old);
        }
        self.generation += 1;
        if old == Status::New {
            self.counts.unhandled -= 1;
        }
        if status == Status::New {
            self.counts.unhandled += 1;
        }
        e.status = status;
        let keep = self.matches(idx);
        let pos = self.view.binary_search_by(|probe| self.cmp(*probe, idx));
        match (keep, pos) {
            (false, Ok(p)) => {
                self.view.remove(p);
            }
            (true, Err(p)) => self.view.insert(p, idx),
            _ => {}
        }
        Some(old)
    }

    /// Un-snoozes alerts whose snooze ran out; returns how many.
    pub fn expire_snoozes(&mut self, now: DateTime<Utc>) -> usize {
        let due: Vec<u32> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.status, Status::Snoozed(t) if t <= now))
            .filter_map(|(i, _)| u32::try_from(i).ok())
            .collect();
        for i in &due {
            self.set_status(*i, Status::New);
        }
        due.len()
    }
}
