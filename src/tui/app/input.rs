//! Input handling for [`App`]: keys (through the keymap, by context), the input line, the
//! mouse, and the named actions the keymap and the command line trigger.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::{App, Effect, Focus, InputKind, MAX_COMMANDS, Tab, View, remediation_commands};
use crate::tui::feed::{Handled, Status};
use crate::tui::keymap::{Context, Keymap};

/// Which tab title sits at column `x` of the detail pane's top border (see `ui::detail`:
/// corner, a space, then ` N Title ` labels separated by a space).
/// Confirmation names of remediation commands 1…5 (`Effect::Copy::what` is static).
const REMEDIATION_WHAT: [&str; MAX_COMMANDS] = [
    "remediation command 1",
    "remediation command 2",
    "remediation command 3",
    "remediation command 4",
    "remediation command 5",
];

fn tab_at(x: u16) -> Option<Tab> {
    let mut start = 2u16;
    for (i, t) in Tab::ALL.iter().enumerate() {
        let width = u16::try_from(format!("{} {}", i + 1, t.title()).len() + 2).unwrap_or(0);
        if x >= start && x < start + width {
            return Some(*t);
        }
        start += width + 1;
    }
    None
}

impl App {
    pub(super) fn on_key(&mut self, k: KeyEvent) {
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
        if std::mem::take(&mut self.pending_copy)
            && let KeyCode::Char(c @ '1'..='9') = k.code
            && k.modifiers.difference(KeyModifiers::SHIFT).is_empty()
        {
            self.copy_remediation(usize::from(c as u8 - b'0'));
            return;
        }
        if self.editing {
            match self.keymap.action(Context::Editor, &k) {
                Some("save") => self.request_save(),
                Some("test") => {
                    self.editor_status = Some(("Running the rule tests…".into(), false));
                    self.effects.push(Effect::RunRuleTests);
                }
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
        if self.workspaces.open {
            self.on_workspaces_key(k);
            return;
        }
        let ctx = match self.focus {
            Focus::Feed => self.list_context(),
            Focus::Detail => Context::Detail,
        };
        // A detail-only meaning (`i`/Enter edit the Rules tab) falls through to the global
        // binding elsewhere (`i` shows the enrichment).
        let local = self
            .keymap
            .action(ctx, &k)
            .filter(|a| !(ctx == Context::Detail && *a == "edit" && self.tab != Tab::Rules));
        let action = local
            .or_else(|| self.keymap.action(Context::Global, &k))
            .map(str::to_string);
        if let Some(a) = action {
            self.message = None;
            self.run_action(ctx, &a);
        }
    }

    /// Keys while the workspaces view is open: its own bindings, then the global ones that
    /// make sense over it (quit, help, the command line, `W` closes it).
    fn on_workspaces_key(&mut self, k: KeyEvent) {
        if let Some(a) = self.keymap.action(Context::Workspaces, &k) {
            self.message = None;
            match a {
                "back" => self.workspaces.open = false,
                "refresh" => {
                    self.workspaces.asked_at = Some(self.now);
                    self.effects.push(Effect::LoadWorkspaces);
                }
                other => {
                    let other = other.to_string();
                    self.workspaces.navigate(&other);
                }
            }
            return;
        }
        if let Some(a) = self.keymap.action(Context::Global, &k)
            && matches!(a, "quit" | "help" | "command" | "workspaces")
        {
            let a = a.to_string();
            self.message = None;
            self.run_action(Context::Workspaces, &a);
        }
    }

    pub(super) fn on_input_key(&mut self, kind: InputKind, k: KeyEvent) {
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

    pub(super) fn on_mouse(&mut self, m: MouseEvent) -> bool {
        let feed = self.feed_area.get();
        let detail = self.detail_area.get();
        let inside = |r: Rect| {
            m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if inside(feed) && !self.help && self.view == View::Now {
                    self.focus = Focus::Feed;
                    self.editing = false;
                    self.board_click(m.row);
                    true
                } else if inside(feed) && !self.help && self.groups.active() {
                    self.focus = Focus::Feed;
                    self.editing = false;
                    self.grouped_click(m.row);
                    true
                } else if inside(feed) && !self.help {
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
                    if m.row == detail.y
                        && let Some(tab) = tab_at(m.column.saturating_sub(detail.x))
                    {
                        self.show_tab(tab);
                    }
                    true
                } else {
                    false
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let down = matches!(m.kind, MouseEventKind::ScrollDown);
                if inside(feed) && self.view == View::Now {
                    self.now_board.move_sel(if down { 3 } else { -3 });
                } else if inside(feed) && self.groups.active() {
                    self.groups.move_sel(if down { 3 } else { -3 });
                } else if inside(feed) {
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

    pub(super) fn set_status_toggle(&mut self, target: fn(DateTime<Utc>) -> Status, verb: &str) {
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
        let what = if new == Status::New { "reopened" } else { verb };
        self.change_status(idx, new, what);
    }

    /// Sets an alert's status and, with a store, saves it (the runtime confirms or reports).
    pub fn change_status(&mut self, idx: u32, new: Status, what: &str) {
        if self.meta.readonly {
            self.refuse_readonly(what);
            return;
        }
        let by = Handled {
            who: crate::tui::run::who(),
            at: self.now,
        };
        self.feed.set_status_by(idx, new, Some(by));
        self.clamp_sel();
        if self.meta.store.is_some() {
            if let Some(e) = self.feed.entry(idx) {
                self.effects.push(Effect::Persist {
                    alert_id: e.alert.id.clone(),
                    status: new,
                    verb: what.to_string(),
                });
            }
            self.message = Some((format!("Alert {what} (saving…)"), false));
        } else {
            self.message = Some((
                format!("Alert {what} (in memory only: no store configured)"),
                false,
            ));
        }
    }

    /// Says that `what` is refused in read-only mode.
    pub fn refuse_readonly(&mut self, what: &str) {
        self.message = Some((
            format!(
                "Read-only: '{what}' is disabled ({})",
                self.meta.readonly_reason()
            ),
            true,
        ));
    }

    /// Saves the rule file unless the text does not compile (a broken file would be
    /// rejected by the watcher, or break the next start).
    pub fn request_save(&mut self) {
        if self.meta.readonly {
            self.refuse_readonly("save");
            return;
        }
        match self.editor.diagnostics.first() {
            None => self.effects.push(Effect::SaveRules),
            Some(d) => {
                let n = self.editor.diagnostics.len();
                let text = format!(
                    "Not saved: the rules do not compile ({n} error{}; first at line {}:{}: {}). Fix them, then ctrl-s",
                    if n == 1 { "" } else { "s" },
                    d.line,
                    d.column,
                    d.message
                );
                self.editor_status = Some((text.clone(), true));
                self.message = Some((text, true));
            }
        }
    }

    /// Runs a keymap action by name (refused when it writes and the monitor is read-only).
    pub fn run_action(&mut self, ctx: Context, action: &str) {
        if self.meta.readonly && Keymap::is_write(ctx, action) {
            let desc = self
                .keymap
                .bindings(ctx)
                .find(|b| b.action == action)
                .map_or(action, |b| b.desc.as_str())
                .to_string();
            self.refuse_readonly(&desc);
            return;
        }
        let page = self.page();
        if ctx == Context::Now && self.board_action(action, page) {
            return;
        }
        if ctx == Context::Feed && self.groups.active() && self.grouped_action(action, page) {
            return;
        }
        match (ctx, action) {
            (_, "quit") => self.quit = true,
            (_, "view") => {
                self.view = match self.view {
                    View::Now => View::Feed,
                    View::Feed => View::Now,
                };
                self.focus = Focus::Feed;
                self.editing = false;
            }
            (_, "workspaces") => {
                let opened = self.workspaces.toggle(self.now);
                if opened {
                    self.effects.push(Effect::LoadWorkspaces);
                }
            }
            (_, "copy_markdown") => self.copy_markdown(ctx),
            (Context::Feed, "group") => self.cycle_grouping(),
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
                // View mode: keys keep their meaning (`q` quits); `i` or Enter edits.
                self.show_tab(Tab::Rules);
                self.focus = Focus::Detail;
            }
            (_, "tab_log") => self.show_tab(Tab::Log),
            (_, "tab_next" | "tab_prev") => {
                let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                let n = Tab::ALL.len();
                let next = if action == "tab_next" {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.show_tab(Tab::ALL[next]);
            }
            (_, "zoom") => self.zoom = !self.zoom,
            (_, "copy_alert") => self.copy_alert(),
            (_, "copy_diff") => self.copy_diff(),
            (_, "copy_remediation") => {
                self.copy_remediation(1);
                self.pending_copy = true;
            }
            (_, "unified") => self.unified = !self.unified,
            (Context::Feed, "down") => self.move_sel(1),
            (Context::Feed, "up") => self.move_sel(-1),
            (Context::Feed, "top") => {
                self.sel = 0;
                self.follow = self.feed.sort().1;
                self.new_unseen = 0;
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
                    self.groups.sel = 0;
                    self.new_unseen = 0;
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
            (Context::Detail, "half_down") => {
                self.detail_scroll = self
                    .detail_scroll
                    .saturating_add(u16::try_from((page / 2).max(1)).unwrap_or(5));
            }
            (Context::Detail, "half_up") => {
                self.detail_scroll = self
                    .detail_scroll
                    .saturating_sub(u16::try_from((page / 2).max(1)).unwrap_or(5));
            }
            (Context::Detail, "top") => {
                // The log scrolls back from its newest line: its top is the oldest.
                self.detail_scroll = if self.tab == Tab::Log {
                    u16::try_from(self.logs.len()).unwrap_or(u16::MAX)
                } else {
                    0
                };
            }
            (Context::Detail, "bottom") => self.detail_scroll = self.detail_bottom(),
            (Context::Detail, "back") => self.focus = Focus::Feed,
            (Context::Detail, "edit") if self.tab == Tab::Rules => self.editing = true,
            (Context::Detail, "test") if self.tab == Tab::Rules => {
                self.editor_status = Some(("Running the rule tests…".into(), false));
                self.effects.push(Effect::RunRuleTests);
            }
            _ => {}
        }
    }

    /// Shows a detail tab (stops editing).
    pub fn show_tab(&mut self, tab: Tab) {
        if self.tab != tab {
            self.detail_scroll = 0;
        }
        self.tab = tab;
        self.editing = false;
    }

    pub(super) fn copy_alert(&mut self) {
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

    pub(super) fn copy_diff(&mut self) {
        match (self.selected(), &self.detail) {
            (Some(a), Some((_, d))) => {
                let text = crate::tui::diff::unified_text(a, d);
                self.effects.push(Effect::Copy { what: "diff", text });
            }
            _ => self.message = Some(("No alert selected".into(), true)),
        }
    }

    /// Copies remediation command `n` (1-based) of the selected alert. Only ever a command:
    /// an alert without one says so and copies nothing.
    pub fn copy_remediation_n(&mut self, n: usize) {
        self.copy_remediation(n);
    }

    pub(super) fn copy_remediation(&mut self, n: usize) {
        let Some(a) = self.selected() else {
            self.message = Some(("No alert selected".into(), true));
            return;
        };
        let cmds = remediation_commands(a);
        match cmds.get(n.saturating_sub(1)) {
            Some(c) => {
                // The confirmation names which one: `c` then a digit picks another.
                self.effects.retain(|e| !matches!(e, Effect::Copy { what, .. } if what.starts_with("remediation command")));
                self.effects.push(Effect::Copy {
                    what: REMEDIATION_WHAT[n.clamp(1, MAX_COMMANDS) - 1],
                    text: c.line.clone(),
                });
            }
            None if cmds.is_empty() => {
                self.message = Some((
                    "Nothing to copy: no command applies to this alert (see the details)".into(),
                    true,
                ));
            }
            None => {
                self.message = Some((
                    format!(
                        "No command {n}: this alert has {} (c1…c{})",
                        cmds.len(),
                        cmds.len()
                    ),
                    true,
                ));
            }
        }
    }

    /// The detail scroll that shows the end of the current tab's text.
    fn detail_bottom(&self) -> u16 {
        match self.tab {
            // The log scrolls back from its end: 0 is the newest line.
            Tab::Log => 0,
            _ => u16::MAX / 2,
        }
    }

    pub(super) fn new_rule(&mut self, ignore: bool) {
        let Some(a) = self.selected().cloned() else {
            self.message = Some(("No alert selected".into(), true));
            return;
        };
        if ignore {
            self.editor
                .insert_item("ignore", &crate::tui::editor::ignore_item(&a, self.now));
        } else {
            self.editor
                .insert_item("rules", &crate::tui::editor::severity_item(&a));
        }
        self.show_tab(Tab::Rules);
        self.focus = Focus::Detail;
        self.editing = true;
        self.message = Some((
            "Rule drafted from the alert: review, then ctrl-s to save (Esc stops editing)".into(),
            false,
        ));
    }
}
