//! The application state and its only mutation, [`App::update`] (TEA). Keys, mouse, pipeline
//! messages and ticks all arrive as [`Action`]s; side effects that touch the outside world
//! (clipboard, saving) leave as [`Effect`]s for the runtime to perform.

use std::cell::Cell;
use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::command;
use super::diff::{AttrDiff, alert_diffs};
use super::editor::RuleEditor;
use super::feed::{Feed, Status};
use super::filter::Filter;
use super::keymap::{Context, Keymap};
use super::logs::LogLine;
use super::theme::Theme;
use crate::alert::Alert;
use crate::pipeline::Stats;

/// Log lines kept for the log pane.
const LOG_KEEP: usize = 1000;

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
}

/// The whole UI state.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent UI toggles, not a state machine
pub struct App {
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
}

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
        App {
            feed: Feed::new(),
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
            keymap,
            theme,
            now,
            effects: Vec::new(),
            quit: false,
            detail: None,
            feed_area: Cell::new(Rect::default()),
            detail_area: Cell::new(Rect::default()),
            feed_offset: Cell::new(0),
        }
    }

    /// The selected alert's entry index.
    #[must_use]
    pub fn selected_index(&self) -> Option<u32> {
        self.feed.entry_index_at(self.sel)
    }

    /// The selected alert.
    #[must_use]
    pub fn selected(&self) -> Option<&Alert> {
        self.feed.at(self.sel).map(|e| &e.alert)
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
                        (
                            format!("Saved {path}{note}"),
                            !self.editor.diagnostics.is_empty(),
                        )
                    }
                    Err(e) => (e, true),
                });
                true
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
        changed
    }

    fn on_alerts(&mut self, alerts: Vec<Alert>) {
        for a in alerts {
            if let Some(pos) = self.feed.push(a) {
                if self.follow {
                    self.sel = pos;
                } else if pos <= self.sel && self.feed.shown() > 1 {
                    self.sel += 1;
                }
            }
        }
        self.clamp_sel();
    }

    fn clamp_sel(&mut self) {
        self.sel = self.sel.min(self.feed.shown().saturating_sub(1));
    }

    fn sync_detail(&mut self) {
        let idx = self.selected_index();
        if self.detail.as_ref().map(|(i, _)| *i) != idx {
            self.detail = idx.and_then(|i| self.feed.entry(i).map(|e| (i, alert_diffs(&e.alert))));
            if self.tab != Tab::Log && self.tab != Tab::Rules {
                self.detail_scroll = 0;
            }
        }
    }

    /// Rebuilds the feed filter from the typed text and the hide-handled toggle.
    fn apply_filter(&mut self) {
        let sel_idx = self.selected_index();
        let mut text = self.filter_text.clone();
        if self.hide_handled {
            text.push_str(" status:new");
        }
        self.feed.set_filter(Filter::parse(&text));
        self.reselect(sel_idx);
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

    fn on_key(&mut self, k: KeyEvent) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        if let Some((kind, _)) = &self.input {
            let kind = *kind;
            self.on_input_key(kind, k);
            return;
        }
        if self.help {
            match self.keymap.action(Context::Help, &k) {
                Some("scroll_down") => self.help_scroll = self.help_scroll.saturating_add(1),
                Some("scroll_up") => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some("back") => self.help = false,
                _ => {
                    if self.keymap.action(Context::Global, &k) == Some("help") {
                        self.help = false;
                    }
                }
            }
            return;
        }
        if self.editing {
            match self.keymap.action(Context::Editor, &k) {
                Some("save") => self.effects.push(Effect::SaveRules),
                Some("back") => {
                    self.editing = false;
                    self.message = Some((
                        if self.editor.modified {
                            "Stopped editing; unsaved changes (ctrl-s in the editor saves)".into()
                        } else {
                            "Stopped editing".into()
                        },
                        false,
                    ));
                }
                _ => self.editor.input(k),
            }
            return;
        }
        let ctx = match self.focus {
            Focus::Feed => Context::Feed,
            Focus::Detail => Context::Detail,
        };
        let action = self
            .keymap
            .action(ctx, &k)
            .or_else(|| self.keymap.action(Context::Global, &k))
            .map(str::to_string);
        if let Some(a) = action {
            self.message = None;
            self.run_action(ctx, &a);
        }
    }

    fn on_input_key(&mut self, kind: InputKind, k: KeyEvent) {
        let Some((_, text)) = &mut self.input else {
            return;
        };
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => {
                self.input = None;
                if kind == InputKind::Filter {
                    self.filter_text = std::mem::take(&mut self.filter_before);
                    self.apply_filter();
                }
                return;
            }
            KeyCode::Enter => {
                let t = std::mem::take(text);
                self.input = None;
                if kind == InputKind::Command {
                    self.run_command(&t);
                }
                return;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char('w') if ctrl => {
                let trimmed = text.trim_end().len();
                let cut = text[..trimmed].rfind(' ').map_or(0, |i| i + 1);
                text.truncate(cut);
            }
            KeyCode::Char('c') if ctrl => {
                self.input = None;
                return;
            }
            KeyCode::Char(c) => text.push(c),
            _ => return,
        }
        if kind == InputKind::Filter {
            self.filter_text = text.clone();
            self.apply_filter();
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) -> bool {
        let feed = self.feed_area.get();
        let detail = self.detail_area.get();
        let inside = |r: Rect| {
            m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if inside(feed) && !self.help {
                    self.focus = Focus::Feed;
                    self.editing = false;
                    // Border + header row above the first data row.
                    let first = feed.y + 2;
                    if m.row >= first {
                        let pos = self.feed_offset.get() + usize::from(m.row - first);
                        if pos < self.feed.shown() {
                            self.sel = pos;
                            self.follow = false;
                        }
                    }
                    true
                } else if inside(detail) {
                    self.focus = Focus::Detail;
                    true
                } else {
                    false
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let down = matches!(m.kind, MouseEventKind::ScrollDown);
                if inside(feed) {
                    self.move_sel(if down { 3 } else { -3 });
                } else if inside(detail) {
                    self.detail_scroll = if down {
                        self.detail_scroll.saturating_add(3)
                    } else {
                        self.detail_scroll.saturating_sub(3)
                    };
                } else {
                    return false;
                }
                true
            }
            _ => false,
        }
    }

    fn set_status_toggle(&mut self, target: fn(DateTime<Utc>) -> Status, verb: &str) {
        let Some(idx) = self.selected_index() else {
            self.message = Some(("No alert selected".into(), true));
            return;
        };
        let current = self.feed.entry(idx).map(|e| e.status);
        let wanted = target(self.now);
        let new = if current
            .is_some_and(|c| std::mem::discriminant(&c) == std::mem::discriminant(&wanted))
        {
            Status::New
        } else {
            wanted
        };
        self.feed.set_status(idx, new);
        self.clamp_sel();
        let what = if new == Status::New { "reopened" } else { verb };
        self.message = Some((
            format!("Alert {what} (in memory only: not persisted yet)"),
            false,
        ));
    }

    /// Runs a keymap action by name.
    pub fn run_action(&mut self, ctx: Context, action: &str) {
        let page = self.page();
        match (ctx, action) {
            (_, "quit") => self.quit = true,
            (_, "help") => {
                self.help = !self.help;
                self.help_scroll = 0;
            }
            (_, "command") => self.input = Some((InputKind::Command, String::new())),
            (_, "filter") => {
                self.filter_before = self.filter_text.clone();
                self.input = Some((InputKind::Filter, self.filter_text.clone()));
            }
            (_, "focus_next") => {
                self.focus = match self.focus {
                    Focus::Feed => Focus::Detail,
                    Focus::Detail => Focus::Feed,
                };
            }
            (_, "tab_diff") => self.show_tab(Tab::Diff),
            (_, "tab_enrichment") => self.show_tab(Tab::Enrichment),
            (_, "tab_rules") => {
                self.show_tab(Tab::Rules);
                self.focus = Focus::Detail;
                self.editing = true;
            }
            (_, "tab_log") => self.show_tab(Tab::Log),
            (_, "zoom") => self.zoom = !self.zoom,
            (_, "copy_alert") => self.copy_alert(),
            (_, "copy_diff") => self.copy_diff(),
            (_, "copy_remediation") => self.copy_remediation(),
            (Context::Feed, "down") => self.move_sel(1),
            (Context::Feed, "up") => self.move_sel(-1),
            (Context::Feed, "top") => {
                self.sel = 0;
                self.follow = self.feed.sort().1;
            }
            (Context::Feed, "bottom") => self.move_sel(isize::MAX / 2),
            (Context::Feed, "page_down") => self.move_sel(page.cast_signed()),
            (Context::Feed, "page_up") => self.move_sel(-page.cast_signed()),
            (Context::Feed, "half_down") => self.move_sel((page / 2).max(1).cast_signed()),
            (Context::Feed, "half_up") => self.move_sel(-(page / 2).max(1).cast_signed()),
            (Context::Feed, "open") => self.focus = Focus::Detail,
            (Context::Feed, "follow") => {
                self.follow = !self.follow;
                if self.follow {
                    self.sel = 0;
                }
                self.message = Some((
                    format!("Follow {}", if self.follow { "on" } else { "off" }),
                    false,
                ));
            }
            (Context::Feed, "clear_filter") => {
                self.filter_text.clear();
                self.apply_filter();
            }
            (Context::Feed, "sort_next") => {
                let (k, d) = self.feed.sort();
                self.sort(k.next(), d);
            }
            (Context::Feed, "sort_reverse") => {
                let (k, d) = self.feed.sort();
                self.sort(k, !d);
            }
            (Context::Feed, "ack") => self.set_status_toggle(|_| Status::Acked, "acknowledged"),
            (Context::Feed, "snooze") => {
                self.set_status_toggle(
                    |now| Status::Snoozed(now + Duration::hours(1)),
                    "snoozed for 1h",
                );
            }
            (Context::Feed, "resolve") => self.set_status_toggle(|_| Status::Resolved, "resolved"),
            (Context::Feed, "hide_handled") => {
                self.hide_handled = !self.hide_handled;
                self.apply_filter();
            }
            (Context::Feed, "new_ignore_rule") => self.new_rule(true),
            (Context::Feed, "new_severity_rule") => self.new_rule(false),
            (Context::Detail, "scroll_down") => {
                self.detail_scroll = self.detail_scroll.saturating_add(1);
            }
            (Context::Detail, "scroll_up") => {
                self.detail_scroll = self.detail_scroll.saturating_sub(1);
            }
            (Context::Detail, "page_down") => {
                self.detail_scroll = self
                    .detail_scroll
                    .saturating_add(u16::try_from(page).unwrap_or(10));
            }
            (Context::Detail, "page_up") => {
                self.detail_scroll = self
                    .detail_scroll
                    .saturating_sub(u16::try_from(page).unwrap_or(10));
            }
            (Context::Detail, "top") => self.detail_scroll = 0,
            (Context::Detail, "unified") => self.unified = !self.unified,
            (Context::Detail, "back") => self.focus = Focus::Feed,
            (Context::Detail, "edit") if self.tab == Tab::Rules => self.editing = true,
            _ => {}
        }
    }

    fn show_tab(&mut self, tab: Tab) {
        if self.tab != tab {
            self.detail_scroll = 0;
        }
        self.tab = tab;
        self.editing = false;
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

    fn copy_alert(&mut self) {
        match self.selected() {
            Some(a) => {
                let text = serde_json::to_string_pretty(a).unwrap_or_else(|_| a.to_json_line());
                self.effects.push(Effect::Copy {
                    what: "alert JSON",
                    text,
                });
            }
            None => self.message = Some(("No alert selected".into(), true)),
        }
    }

    fn copy_diff(&mut self) {
        match (self.selected(), &self.detail) {
            (Some(a), Some((_, d))) => {
                let text = super::diff::unified_text(a, d);
                self.effects.push(Effect::Copy { what: "diff", text });
            }
            _ => self.message = Some(("No alert selected".into(), true)),
        }
    }

    fn copy_remediation(&mut self) {
        match self.selected() {
            Some(a) => {
                let text = remediation_command(a);
                self.effects.push(Effect::Copy {
                    what: "remediation command",
                    text,
                });
            }
            None => self.message = Some(("No alert selected".into(), true)),
        }
    }

    fn new_rule(&mut self, ignore: bool) {
        let Some(a) = self.selected().cloned() else {
            self.message = Some(("No alert selected".into(), true));
            return;
        };
        if ignore {
            self.editor
                .insert_item("ignore", &super::editor::ignore_item(&a, self.now));
        } else {
            self.editor
                .insert_item("rules", &super::editor::severity_item(&a));
        }
        self.show_tab(Tab::Rules);
        self.focus = Focus::Detail;
        self.editing = true;
        self.message = Some((
            "Rule drafted from the alert: review, then ctrl-s to save (Esc stops editing)".into(),
            false,
        ));
    }

    /// Runs a `:` command line.
    pub fn run_command(&mut self, line: &str) {
        command::run(self, line);
    }
}

/// The command that puts the resource back the way Terraform wants it (or brings it under
/// management): the alert's own remediation when a rule rendered one.
#[must_use]
pub fn remediation_command(a: &Alert) -> String {
    if let Some(first) = a
        .remediation
        .iter()
        .find(|r| r.trim_start().starts_with("terraform"))
    {
        return first.trim().to_string();
    }
    if let Some(first) = a.remediation.first() {
        return first.trim().to_string();
    }
    match &a.resource.address {
        Some(addr) => format!("terraform apply -target='{addr}'"),
        None => format!(
            "terraform import '{}.imported' '{}'",
            a.resource.rtype, a.resource.id
        ),
    }
}
