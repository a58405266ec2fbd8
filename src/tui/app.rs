//! The application state and its only mutation, [`App::update`] (TEA). Keys, mouse, pipeline
//! messages and ticks all arrive as [`Action`]s; side effects that touch the outside world
//! (clipboard, saving) leave as [`Effect`]s for the runtime to perform.

use std::cell::Cell;
use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

mod board;
mod grouped;
mod input;

pub use grouped::{FeedGroups, FeedRow};

use super::command;
use super::diff::{AttrDiff, alert_diffs};
use super::editor::RuleEditor;
use super::feed::Feed;
use super::feed::Status;
use super::filter::Filter;
use super::keymap::{Context, Keymap};
use super::logs::LogLine;
use super::theme::Theme;
use crate::alert::Alert;
use crate::drift::Drift;
use crate::pipeline::Stats;

/// Alerts held in full (with enrichment and diff values) when a store can give back the rest.
pub const FULL_KEPT: usize = 2_000;

/// Log lines kept for the log pane.
const LOG_KEEP: usize = 1000;

/// What the main pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The Now board: every unresolved drift, worst first (the default).
    #[default]
    Now,
    /// The live feed: every alert.
    Feed,
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The alert table.
    Feed,
    /// The detail pane (diff, enrichment, rules, log).
    Detail,
}

/// Detail pane tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Attribute diff.
    Diff,
    /// Identity, tags, runbook.
    Enrichment,
    /// Rule editor.
    Rules,
    /// Log.
    Log,
}

impl Tab {
    /// All tabs in order.
    pub const ALL: [Tab; 4] = [Tab::Diff, Tab::Enrichment, Tab::Rules, Tab::Log];

    /// Title.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Tab::Diff => "Diff",
            Tab::Enrichment => "Enrichment",
            Tab::Rules => "Rules",
            Tab::Log => "Log",
        }
    }
}

/// The bottom input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `/` live filter.
    Filter,
    /// `:` command.
    Command,
}

/// Something for the runtime to do outside the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Put text on the clipboard; `what` names it in the confirmation.
    Copy {
        /// `alert JSON`, `diff`, `remediation command`.
        what: &'static str,
        /// The text.
        text: String,
    },
    /// Save the rule editor's file.
    SaveRules,
    /// Record an alert's new status in the store (off the UI thread).
    Persist {
        /// The alert.
        alert_id: String,
        /// Its new status.
        status: Status,
        /// What the user did (`acknowledged`), for the confirmation.
        verb: String,
    },
    /// Run the rule tests of the editor's file (off the UI thread).
    RunRuleTests,
    /// Re-read a slimmed alert from the store for the details (off the UI thread).
    LoadAlert {
        /// The alert.
        id: String,
    },
    /// A person acknowledges, snoozes or resolves a drift: done by whatever backs the
    /// monitor (the store in-process, the daemon in team mode), off the UI thread; the
    /// drift's new state comes back as [`Action::DriftChanged`].
    DriftAct {
        /// The drift.
        id: String,
        /// What is done.
        action: crate::store::DriftAction,
        /// What the user did (`acknowledged`), for the confirmation.
        verb: String,
    },
    /// Read a drift's occurrences (its alerts, newest first) for the board's occurrence list;
    /// the answer comes back as [`Action::Occurrences`].
    LoadOccurrences {
        /// The drift.
        drift_id: String,
    },
    /// Read the reconcile status board for the workspaces view (the store in-process, the
    /// daemon in team mode); the rows come back as [`Action::WorkspaceRuns`].
    LoadWorkspaces,
}

/// Everything that can change the state.
#[derive(Debug, Clone)]
pub enum Action {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal was resized.
    Resize,
    /// New alerts from the pipeline.
    Alerts(Vec<Alert>),
    /// New counters (boxed: the maps make it large).
    Stats(Box<Stats>),
    /// New log lines.
    Logs(Vec<LogLine>),
    /// One second passed.
    Tick(DateTime<Utc>),
    /// The alert stream ended (sources exhausted or stopped).
    PipelineDone,
    /// Run a `:` command.
    Command(String),
    /// A message for the bottom line (result of an effect).
    Notice {
        /// Text.
        text: String,
        /// Shown as an error.
        error: bool,
    },
    /// The rule file was written (path) or not (why).
    RulesSaved(Result<String, String>),
    /// Alerts loaded from the store at start, with their stored status and who set it
    /// (oldest first).
    Restored(Vec<(Alert, Status, Option<super::feed::Handled>)>),
    /// What the rule watcher did after a save: the text, and whether it is a problem.
    RulesReloaded(String, bool),
    /// The rule tests ran: summary, and whether any failed.
    RuleTests(String, bool),
    /// A slimmed alert re-read from the store (for the details).
    AlertLoaded(Box<Alert>),
    /// Every unresolved drift (at start, after a reconnect, or a periodic reload): replaces
    /// the monitor's set.
    Drifts(Vec<Drift>),
    /// Team mode: an alert's status changed on the daemon (by anyone): its id, status, who.
    StatusChanged(String, Status, Option<super::feed::Handled>),
    /// One drift changed (opened, occurred, acknowledged, snoozed, resolved, reopened); a
    /// resolved one leaves the unresolved set.
    DriftChanged(Box<Drift>),
    /// A drift's occurrences (its alerts), or why they cannot be read.
    Occurrences {
        /// The drift.
        drift_id: String,
        /// Its alerts (newest first), or the reason.
        result: Result<Vec<Alert>, String>,
    },
    /// The reconcile status board for the workspaces view, or why it could not be read.
    WorkspaceRuns(Result<Vec<crate::reconcile::board::BoardRow>, String>),
    /// Quit.
    Quit,
}

/// Static facts for the status bar.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Profile name.
    pub profile: String,
    /// Sources, described (`replay demo/events.jsonl (loop 1500 ms)`).
    pub sources: Vec<String>,
    /// Managed resources in the state index.
    pub state_resources: usize,
    /// The state index, for tags and owner in the enrichment pane (read-only, shared).
    pub state: Option<std::sync::Arc<crate::state::StateIndex>>,
    /// The store acknowledgements, snoozes and resolves are saved in (its path); `None`: in
    /// memory only.
    pub store: Option<String>,
    /// Whether the pipeline watches the editor's file (a save hot-reloads the rules).
    pub rules_watched: bool,
    /// State backends in use (`local`, `s3`), for the status bar.
    pub state_backends: Vec<String>,
    /// Notification counters, when channels are configured (`None`: notifications off).
    pub notify: Option<std::sync::Arc<crate::notify::worker::NotifyStats>>,
    /// Live sources configured (health names as in [`Stats::sources`], e.g. `sqs:URL`): each
    /// gets a chip in the header even before it reports.
    pub live_sources: Vec<String>,
    /// `--readonly`: keys and commands that change something are refused.
    pub readonly: bool,
    /// Team mode: the daemon this monitor is attached to, and the link's state (header).
    pub daemon: Option<super::backend::DaemonLink>,
}

impl Meta {
    /// Acknowledgements survive a restart: a store on disk (not `:memory:`, not an in-memory
    /// or temporary store).
    #[must_use]
    pub fn persistent(&self) -> bool {
        self.store.as_deref().is_some_and(|p| p != ":memory:")
    }
}

/// The whole UI state.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent UI toggles, not a state machine
pub struct App {
    /// Now board or live feed.
    pub view: View,
    /// The workspaces view (reconcile status board), over the main panes when open.
    pub workspaces: super::workspaces::WorkspacesView,
    /// The Now board's rows and selection.
    pub now_board: super::now::NowBoard,
    /// The feed's grouping (by drift, by actor session) and its rows.
    pub groups: FeedGroups,
    /// Alerts that arrived while follow was off (the "N new ↑" badge).
    pub new_unseen: usize,
    /// All alerts and the filtered view.
    pub feed: Feed,
    /// Selected display position in the feed.
    pub sel: usize,
    /// Keep the newest alert selected.
    pub follow: bool,
    /// Hide acknowledged/snoozed/resolved (the `H` toggle).
    pub hide_handled: bool,
    /// Filter text typed with `/` (without the `H` facet).
    pub filter_text: String,
    /// Keyboard focus.
    pub focus: Focus,
    /// Detail tab.
    pub tab: Tab,
    /// The rule editor is capturing keys.
    pub editing: bool,
    /// Focused pane fills the screen.
    pub zoom: bool,
    /// Unified instead of side-by-side diff.
    pub unified: bool,
    /// Scroll of the detail pane (lines).
    pub detail_scroll: u16,
    /// Help popup open.
    pub help: bool,
    /// Help scroll.
    pub help_scroll: u16,
    /// The bottom input line, when open.
    pub input: Option<(InputKind, String)>,
    /// Filter before `/` started (Esc restores it).
    filter_before: String,
    /// Bottom-line message.
    pub message: Option<(String, bool)>,
    /// Pipeline counters.
    pub stats: Stats,
    /// Events per second (records read, over the last tick).
    pub eps: f64,
    last_records: (DateTime<Utc>, u64),
    /// Whether the alert stream is still open.
    pub pipeline_running: bool,
    /// Static facts.
    pub meta: Meta,
    /// Log lines (newest last).
    pub logs: VecDeque<LogLine>,
    /// The rule editor.
    pub editor: RuleEditor,
    /// Ids of alerts restored from the store that the pipeline may still deliver (recorded
    /// just before the load, delivered after it): skipped once when they arrive.
    restored: std::collections::HashSet<String>,
    /// Unresolved drifts (open, acknowledged, snoozed), and those that resolved while the
    /// monitor is open until they fade out ([`super::now::FADE`]); newest `last_seen` first.
    pub drifts: Vec<Drift>,
    /// The last reload or rule-test result shown in the editor (text, is a problem).
    pub editor_status: Option<(String, bool)>,
    /// Key bindings.
    pub keymap: Keymap,
    /// Colours.
    pub theme: Theme,
    /// Clock (ticks; fixed in tests).
    pub now: DateTime<Utc>,
    /// Effects for the runtime.
    pub effects: Vec<Effect>,
    /// Time to go.
    pub quit: bool,
    /// Selected entry and its diff (recomputed when the selection changes).
    pub detail: Option<(u32, Vec<AttrDiff>)>,
    /// Render-derived layout: the feed table's area (mouse hit tests, paging).
    pub feed_area: Cell<Rect>,
    /// Render-derived layout: the detail pane's area.
    pub detail_area: Cell<Rect>,
    /// Render-derived: first visible feed row.
    pub feed_offset: Cell<usize>,
    /// `c` was pressed: a digit 1–5 next copies that remediation command instead.
    pub pending_copy: bool,
    /// Why the filter keeps nothing (computed when the filter changes; see
    /// [`Feed::explain_filter`]).
    pub filter_why: Vec<String>,
    /// The selected alert in full, when the feed holds it slimmed (re-read from the store).
    pub hydrated: Option<Box<Alert>>,
    /// The alert being re-read from the store.
    hydrating: Option<String>,
    /// When the pipeline last published counters (live pipelines publish every second; one
    /// that stops is shown silent).
    pub stats_at: Option<DateTime<Utc>>,
}

/// A live pipeline that has published no counters for this long is shown silent (red).
pub const SILENT_AFTER: chrono::Duration = chrono::Duration::seconds(10);

impl App {
    /// A fresh app.
    #[must_use]
    pub fn new(
        meta: Meta,
        keymap: Keymap,
        theme: Theme,
        editor: RuleEditor,
        now: DateTime<Utc>,
    ) -> App {
        let mut feed = Feed::new();
        if meta.store.is_some() {
            // Older alerts are re-read from the store for the details: hold only the newest
            // in full (bounded memory at 100k alerts).
            feed.set_limits(Some(FULL_KEPT), super::feed::MAX_HELD);
        }
        App {
            view: View::Now,
            workspaces: super::workspaces::WorkspacesView::default(),
            now_board: super::now::NowBoard::default(),
            groups: FeedGroups::default(),
            new_unseen: 0,
            feed,
            sel: 0,
            follow: true,
            hide_handled: false,
            filter_text: String::new(),
            focus: Focus::Feed,
            tab: Tab::Diff,
            editing: false,
            zoom: false,
            unified: false,
            detail_scroll: 0,
            help: false,
            help_scroll: 0,
            input: None,
            filter_before: String::new(),
            message: None,
            stats: Stats::default(),
            eps: 0.0,
            last_records: (now, 0),
            pipeline_running: true,
            meta,
            logs: VecDeque::new(),
            editor,
            editor_status: None,
            restored: std::collections::HashSet::new(),
            drifts: Vec::new(),
            keymap,
            theme,
            now,
            effects: Vec::new(),
            quit: false,
            detail: None,
            feed_area: Cell::new(Rect::default()),
            detail_area: Cell::new(Rect::default()),
            feed_offset: Cell::new(0),
            pending_copy: false,
            stats_at: None,
            hydrated: None,
            hydrating: None,
            filter_why: Vec::new(),
        }
    }

    /// The selected alert's entry index: the feed's selected row (in a group: the row's
    /// alert, or the group's newest), or on the Now board the selected drift's latest alert
    /// when the feed holds it.
    #[must_use]
    pub fn selected_index(&self) -> Option<u32> {
        match self.view {
            View::Now => self
                .now_board
                .target
                .as_ref()
                .and_then(|t| t.idx)
                .filter(|i| {
                    self.now_board.target.as_ref().is_some_and(|t| {
                        self.feed
                            .entry(*i)
                            .is_some_and(|e| e.alert.id == t.alert_id)
                    })
                }),
            View::Feed if self.groups.active() => self.groups.selected_index(&self.feed),
            View::Feed => self.feed.entry_index_at(self.sel),
        }
    }

    /// The selected alert (in full: a slimmed one as re-read from the store, once there).
    #[must_use]
    pub fn selected(&self) -> Option<&Alert> {
        let Some(e) = self.selected_index().and_then(|i| self.feed.entry(i)) else {
            // On the Now board: a drift's latest alert the feed does not hold, re-read.
            return match self.view {
                View::Now => self.now_board.target.as_ref()?.loaded.as_deref(),
                View::Feed => None,
            };
        };
        if e.slim
            && let Some(h) = self.hydrated.as_deref()
            && h.id == e.alert.id
        {
            return Some(h);
        }
        Some(&e.alert)
    }

    /// Whether the selected alert is slimmed and not re-read yet (its details are partial).
    #[must_use]
    pub fn selected_partial(&self) -> bool {
        self.selected_index()
            .and_then(|i| self.feed.entry(i))
            .is_some_and(|e| e.slim && self.hydrated.as_deref().is_none_or(|h| h.id != e.alert.id))
    }

    /// The keymap context of the list in the main pane (Now board or feed).
    #[must_use]
    pub fn list_context(&self) -> Context {
        match self.view {
            View::Now => Context::Now,
            View::Feed => Context::Feed,
        }
    }

    fn page(&self) -> usize {
        usize::from(self.feed_area.get().height.saturating_sub(3)).max(1)
    }

    /// Applies an action. Returns whether anything visible changed (draw only then).
    pub fn update(&mut self, action: Action) -> bool {
        let changed = match action {
            Action::Key(k) => {
                self.on_key(k);
                true
            }
            Action::Mouse(m) => self.on_mouse(m),
            Action::Resize => true,
            Action::Alerts(alerts) => {
                self.on_alerts(alerts);
                true
            }
            Action::Stats(s) => {
                let changed = *s != self.stats;
                self.stats_at = Some(self.now);
                self.stats = *s;
                changed
            }
            Action::Logs(lines) => {
                for l in lines {
                    if self.logs.len() == LOG_KEEP {
                        self.logs.pop_front();
                    }
                    self.logs.push_back(l);
                }
                self.tab == Tab::Log
            }
            Action::Tick(now) => self.on_tick(now),
            Action::PipelineDone => {
                self.pipeline_running = false;
                true
            }
            Action::Command(c) => {
                self.run_command(&c);
                true
            }
            Action::Notice { text, error } => {
                self.message = Some((text, error));
                true
            }
            Action::RulesSaved(r) => {
                self.message = Some(match r {
                    Ok(path) => {
                        self.editor.modified = false;
                        self.editor.origin = "saved".into();
                        let note = if self.editor.diagnostics.is_empty() {
                            String::new()
                        } else {
                            " (with errors: fix them before the rules load)".into()
                        };
                        self.editor_status = Some(if self.meta.rules_watched {
                            (
                                "Saved; waiting for the pipeline to reload the rules…".into(),
                                false,
                            )
                        } else {
                            (
                                "Saved; not watched by the pipeline, so no hot reload (add it or its dir to the profile's `rules:`)".into(),
                                true,
                            )
                        });
                        (
                            format!("Saved {path}{note}"),
                            !self.editor.diagnostics.is_empty(),
                        )
                    }
                    Err(e) => (e, true),
                });
                true
            }
            Action::Restored(list) => {
                self.on_restored(list);
                true
            }
            Action::AlertLoaded(a) => {
                self.hydrating = None;
                if let Some(t) = self.now_board.target.as_mut()
                    && t.alert_id == a.id
                    && t.idx.is_none()
                {
                    t.loaded = Some(a);
                    self.detail = None;
                    self.sync_detail();
                    return true;
                }
                let fits = self
                    .selected_index()
                    .and_then(|i| self.feed.entry(i))
                    .is_some_and(|e| e.alert.id == a.id);
                if fits {
                    self.hydrated = Some(a);
                    // Recompute the diff from the full alert.
                    self.detail = None;
                }
                fits
            }
            Action::Drifts(list) => {
                self.on_drifts(list);
                true
            }
            Action::StatusChanged(id, status, by) => self.on_status_changed(&id, status, by),
            Action::DriftChanged(d) => {
                self.on_drift_changed(*d);
                true
            }
            Action::Occurrences { drift_id, result } => self.on_occurrences(&drift_id, result),
            Action::RulesReloaded(text, problem) | Action::RuleTests(text, problem) => {
                self.editor_status = Some((text, problem));
                true
            }
            Action::WorkspaceRuns(rows) => {
                self.workspaces.loaded(rows);
                self.workspaces.open
            }
            Action::Quit => {
                self.quit = true;
                true
            }
        };
        self.sync_detail();
        changed
    }

    #[allow(clippy::cast_precision_loss)] // counts and milliseconds far below 2^52
    fn on_tick(&mut self, now: DateTime<Utc>) -> bool {
        self.now = now;
        let secs = (now - self.last_records.0).num_milliseconds() as f64 / 1000.0;
        let mut changed = false;
        if secs >= 1.0 {
            let read = self.stats.records_read;
            let eps = (read.saturating_sub(self.last_records.1)) as f64 / secs;
            changed |= (eps - self.eps).abs() > 0.05;
            self.eps = eps;
            self.last_records = (now, read);
        }
        if self.feed.expire_snoozes(now) > 0 {
            self.clamp_sel();
            changed = true;
        }
        changed |= self.fade_drifts();
        if self.workspaces.due(now) {
            self.effects.push(Effect::LoadWorkspaces);
        }
        changed
    }

    fn on_alerts(&mut self, alerts: Vec<Alert>) {
        for a in alerts {
            if !self.restored.is_empty() && self.restored.remove(&a.id) {
                continue;
            }
            self.now_board.note_alert(&a);
            if let Some(pos) = self.feed.push(a) {
                if !self.follow {
                    self.new_unseen += 1;
                }
                if self.follow {
                    self.sel = pos;
                } else if pos <= self.sel && self.feed.shown() > 1 {
                    self.sel += 1;
                }
            }
        }
        self.clamp_sel();
    }

    /// Adds alerts from the store (skipping any the pipeline already delivered) with their
    /// stored status.
    fn on_restored(&mut self, list: Vec<(Alert, Status, Option<super::feed::Handled>)>) {
        let have: std::collections::HashSet<String> = (0..self.feed.total())
            .filter_map(|i| u32::try_from(i).ok())
            .filter_map(|i| self.feed.entry(i).map(|e| e.alert.id.clone()))
            .collect();
        let sel_idx = self.selected_index();
        let mut n = 0usize;
        for (a, status, by) in list {
            if have.contains(&a.id) {
                continue;
            }
            let before = self.feed.total();
            self.now_board.note_alert(&a);
            self.restored.insert(a.id.clone());
            self.feed.push(a);
            if self.feed.total() > before {
                n += 1;
                if let Ok(i) = u32::try_from(before) {
                    self.feed.set_status_by(i, status, by);
                }
            }
        }
        self.reselect(sel_idx);
        if n > 0 {
            self.message = Some((format!("Loaded {n} recent alerts from the store"), false));
        }
    }

    fn clamp_sel(&mut self) {
        self.sel = self.sel.min(self.feed.shown().saturating_sub(1));
    }

    fn sync_detail(&mut self) {
        if self.view == View::Now {
            self.sync_target();
        } else if self.groups.active() {
            self.groups.regroup(&self.feed);
            if self.follow {
                self.groups.sel = 0;
            }
        }
        let idx = self.selected_index();
        // The Now board's re-read alert is not in the feed: keyed apart from any entry.
        let key = idx.or_else(|| self.selected().map(|_| u32::MAX));
        if self.detail.as_ref().map(|(i, _)| *i) != key {
            if let Some(e) = idx.and_then(|i| self.feed.entry(i))
                && e.slim
                && self.hydrated.as_deref().is_none_or(|h| h.id != e.alert.id)
                && self.hydrating.as_deref() != Some(e.alert.id.as_str())
            {
                self.hydrating = Some(e.alert.id.clone());
                self.effects.push(Effect::LoadAlert {
                    id: e.alert.id.clone(),
                });
            }
            self.detail = key.and_then(|i| self.selected().map(|a| (i, alert_diffs(a))));
            if self.tab != Tab::Log && self.tab != Tab::Rules {
                self.detail_scroll = 0;
            }
        }
    }

    /// Rebuilds the feed filter from the typed text and the hide-handled toggle; says which
    /// terms are not understood or match nothing (a filter never fails silently).
    fn apply_filter(&mut self) {
        let sel_idx = self.selected_index();
        let mut text = self.filter_text.clone();
        if self.hide_handled {
            text.push_str(" status:new");
        }
        self.feed.set_filter(Filter::parse(&text));
        self.reselect(sel_idx);
        self.filter_why.clear();
        let problems = &self.feed.filter().problems;
        if !problems.is_empty() {
            self.message = Some((format!("Filter: {}", problems.join("; ")), true));
        } else if self.feed.shown() == 0 && self.feed.total() > 0 && !self.filter_text.is_empty() {
            let why = self.feed.explain_filter();
            self.filter_why.clone_from(&why);
            self.message = Some((
                if why.is_empty() {
                    "Filter: every term matches some alert, but no alert matches them all".into()
                } else {
                    format!("Filter: {}", why.join("; "))
                },
                true,
            ));
        } else if self
            .message
            .as_ref()
            .is_some_and(|(m, _)| m.starts_with("Filter: "))
        {
            self.message = None;
        }
    }

    /// Keeps the same alert selected after a re-sort or re-filter when it is still shown.
    fn reselect(&mut self, idx: Option<u32>) {
        if self.follow {
            self.sel = 0;
        } else if let Some(pos) = idx.and_then(|i| self.feed.position_of(i)) {
            self.sel = pos;
        }
        self.clamp_sel();
    }

    fn move_sel(&mut self, delta: isize) {
        let max = self.feed.shown().saturating_sub(1);
        let new = self.sel.saturating_add_signed(delta).min(max);
        if new != self.sel {
            self.follow = false;
        }
        self.sel = new;
    }

    /// Sorts the feed, keeping the selected alert selected.
    pub fn sort(&mut self, key: super::feed::SortKey, descending: bool) {
        let idx = self.selected_index();
        self.feed.set_sort(key, descending);
        self.reselect(idx);
        self.message = Some((
            format!(
                "Sorted by {} {}",
                key.as_str(),
                if descending { "↓" } else { "↑" }
            ),
            false,
        ));
    }

    /// Sets the filter text (as `:filter` does).
    pub fn set_filter_text(&mut self, text: &str) {
        self.filter_text = text.trim().to_string();
        self.apply_filter();
    }

    /// Runs a `:` command line.
    pub fn run_command(&mut self, line: &str) {
        command::run(self, line);
    }
}

pub use super::remedy::{MAX_COMMANDS, command_of, remediation_commands};
