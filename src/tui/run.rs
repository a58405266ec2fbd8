//! The runtime: terminal setup and restore (quit, panic, SIGTERM/SIGINT/SIGHUP), the event loop that drains
//! keys and whatever the [`Backend`] sends (alerts, counters, logs, drifts, the daemon link)
//! before drawing once, and the effects (clipboard, save; store and daemon work goes to the
//! backend).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use std::path::Path;
use std::sync::Arc;

use super::app::{Action, App, Effect, Meta};
use super::backend::{Backend, DaemonLink, Event as BackendEvent, RulesHome};
use super::clipboard::{Clipboard, Method};
#[cfg(doc)]
use super::editor::YamlSyntax;
use super::editor::{RuleEditor, RuleValidator, write_atomic};
use super::keymap::Keymap;
use super::theme::Theme;
use super::ui;
use crate::alert::Alert;

/// Backend events queued for the UI (each may be a batch of alerts); beyond it the backend
/// waits, and so does the pipeline behind it.
const EVENT_QUEUE: usize = 64;

/// What the UI needs besides its backend.
#[derive(Debug)]
pub struct RunOptions {
    /// Status-bar facts.
    pub meta: Meta,
    /// Rule file the editor opens.
    pub rules_file: PathBuf,
    /// User keymap overlay (optional file).
    pub keymap_file: Option<PathBuf>,
    /// User theme overlay (optional file).
    pub theme_file: Option<PathBuf>,
    /// Checks the rule editor's text: [`YamlSyntax`] until the rule engine provides one.
    pub validator: Box<dyn RuleValidator>,
    /// Turns rule-test event fixtures into alerts (the `t` key in the rule editor).
    pub event_converter: Option<AlertConverter>,
}

/// The conversion [`AlertConverter`] wraps.
pub type ConvertFn = dyn Fn(&serde_json::Value) -> Vec<Alert> + Send + Sync;

/// Turns a rule test's raw event into alerts (shared with the background test run).
#[derive(Clone)]
pub struct AlertConverter(pub Arc<ConvertFn>);

impl std::fmt::Debug for AlertConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlertConverter")
    }
}

/// How long after a save the editor waits for the watcher to reload.
const RELOAD_WAIT: Duration = Duration::from_secs(3);

/// What the runtime's own background work needs: where the rules live, the rule-test
/// converter, where results go.
#[derive(Clone)]
struct Background {
    rules: RulesHome,
    convert: Option<AlertConverter>,
    tx: mpsc::UnboundedSender<Action>,
}

/// Who acknowledgements are recorded as.
#[must_use]
pub fn who() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .map_or_else(|_| "tui".to_string(), |u| format!("{u} (tui)"))
}

pub use super::persist::{
    NOTE_ACK, NOTE_REOPENED, NOTE_RESOLVED, load_recent, persist_status, stored_handler,
    stored_status,
};

/// Whether the watcher's paths cover `file` (the file itself, or a directory holding it).
#[must_use]
pub fn watched(paths: &[PathBuf], file: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let f = canon(dir).join(file.file_name().unwrap_or_default());
    paths.iter().any(|p| {
        let p = canon(p);
        p == f || (p.is_dir() && f.starts_with(&p))
    })
}

impl std::fmt::Debug for dyn RuleValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn init_terminal() -> anyhow::Result<ratatui::DefaultTerminal> {
    let terminal =
        ratatui::try_init().context("cannot initialise the terminal (is this a TTY?)")?;
    let previous = std::panic::take_hook();
    let ui_thread = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui_thread {
            restore_terminal();
            previous(info);
        } else {
            // A pipeline task: the UI keeps running (its stream ends); printing would scribble
            // over the screen, so the panic goes to the log pane.
            tracing::error!(panic = %info, "A background task panicked");
        }
    }));
    crossterm::execute!(std::io::stdout(), EnableMouseCapture).context("enabling mouse capture")?;
    Ok(terminal)
}

/// Leaves the alternate screen, raw mode and mouse capture. Safe to call twice.
pub fn restore_terminal() {
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    let _ = std::io::stdout().flush();
}

fn event_action(ev: &Event) -> Option<Action> {
    match ev {
        Event::Key(k) => Some(Action::Key(*k)),
        Event::Mouse(m) => Some(Action::Mouse(*m)),
        Event::Resize(_, _) => Some(Action::Resize),
        _ => None,
    }
}

/// Termination signals (TERM, INT from `kill`, HUP when the terminal goes away): each quits
/// through the normal path, so the terminal is restored.
#[cfg(unix)]
struct Signals(Vec<(&'static str, tokio::signal::unix::Signal)>);

#[cfg(unix)]
impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals(
            [
                ("SIGTERM", SignalKind::terminate()),
                ("SIGINT", SignalKind::interrupt()),
                ("SIGHUP", SignalKind::hangup()),
            ]
            .into_iter()
            .filter_map(|(name, kind)| signal(kind).ok().map(|s| (name, s)))
            .collect(),
        )
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let futures = self.0.iter_mut().map(|(name, s)| {
            Box::pin(async move {
                s.recv().await;
                *name
            })
        });
        futures_util::future::select_all(futures).await.0
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Signals {
        Signals
    }

    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Runs the UI over `backend` until the user quits or a termination signal; stops the backend
/// (the pipeline, or the daemon link) on the way out.
pub async fn run(opts: RunOptions, mut backend: Box<dyn Backend>) -> anyhow::Result<()> {
    let keymap = Keymap::load(opts.keymap_file.as_deref()).map_err(anyhow::Error::msg)?;
    // https://no-color.org: symbols, labels and reverse video still carry every meaning.
    let theme = if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        Theme::plain()
    } else {
        Theme::load(opts.theme_file.as_deref()).map_err(anyhow::Error::msg)?
    };
    let editor = RuleEditor::open(opts.rules_file.clone(), opts.validator);
    let mut meta = opts.meta;
    let rules = backend.rules_home();
    meta.rules_watched = match &rules {
        RulesHome::Local(Some(w)) => watched(w.paths(), &opts.rules_file),
        _ => false,
    };
    let mut app = App::new(meta, keymap, theme, editor, Utc::now());
    let (tx, mut results) = mpsc::unbounded_channel();
    let (events_tx, mut events) = mpsc::channel(EVENT_QUEUE);
    backend.start(events_tx, tx.clone());
    let bg = Background {
        rules,
        convert: opts.event_converter,
        tx,
    };
    let result = match init_terminal() {
        Ok(mut terminal) => {
            event_loop(
                &mut terminal,
                &mut app,
                backend.as_ref(),
                &mut events,
                &bg,
                &mut results,
            )
            .await
        }
        Err(e) => Err(e),
    };
    restore_terminal();
    // Nobody reads the backend any more: its senders fail, so nothing blocks on the UI.
    drop(events);
    backend.stop().await;
    result
}

/// Applies a change of the daemon link: the header shows it; a viewer token makes the monitor
/// read-only; the daemon's profile names the monitor.
pub(crate) fn apply_link(app: &mut App, link: DaemonLink) {
    if link.role() == Some("viewer") {
        app.meta.readonly = true;
    }
    if !link.profile.is_empty() {
        app.meta.profile.clone_from(&link.profile);
    }
    app.meta.daemon = Some(link);
}

/// Turns a backend event into actions (or applies it to the static facts); returns whether
/// something visible changed outside the actions.
fn backend_event(app: &mut App, ev: BackendEvent, actions: &mut Vec<Action>) -> bool {
    match ev {
        BackendEvent::Action(a) => {
            actions.push(a);
            false
        }
        BackendEvent::Link(l) => {
            apply_link(app, l);
            true
        }
        BackendEvent::Sources(names) => {
            let changed = app.meta.live_sources != names;
            if changed {
                app.meta.live_sources = names;
            }
            changed
        }
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    backend: &dyn Backend,
    backend_events: &mut mpsc::Receiver<BackendEvent>,
    bg: &Background,
    results: &mut mpsc::UnboundedReceiver<Action>,
) -> anyhow::Result<()> {
    let mut clipboard = Clipboard::new();
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut signals = Signals::new();
    let mut backend_open = true;
    let mut dirty = true;
    tracing::info!(profile = %app.meta.profile, "Terminal UI started");
    loop {
        if dirty {
            terminal.draw(|f| ui::draw(f, app)).context("drawing")?;
            dirty = false;
            // Debug builds only: lets the end-to-end test prove the panic hook restores the
            // terminal.
            #[cfg(debug_assertions)]
            assert!(
                app.feed.total() == 0 || std::env::var_os("TFDRIFT_TUI_TEST_PANIC").is_none(),
                "TFDRIFT_TUI_TEST_PANIC: deliberate panic after the first alert"
            );
        }
        let mut actions = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => actions.extend(event_action(&ev)),
                Some(Err(e)) => return Err(e).context("reading terminal events"),
                None => actions.push(Action::Quit),
            },
            e = backend_events.recv(), if backend_open => match e {
                Some(e) => dirty |= backend_event(app, e, &mut actions),
                None => backend_open = false,
            },
            Some(r) = results.recv() => actions.push(r),
            _ = tick.tick() => {
                actions.push(Action::Tick(Utc::now()));
                // The header counts down to the next reconnect and the daemon's uptime.
                dirty |= app.meta.daemon.is_some();
            },
            name = signals.recv() => {
                tracing::info!(signal = name, "Signal received; quitting");
                actions.push(Action::Quit);
            },
        }
        // Drain everything already queued, then draw once. Polled in this task's own context
        // (never `now_or_never`, whose no-op waker would be the one crossterm's wake thread
        // keeps: keystrokes would then wait for the next tick).
        loop {
            tokio::select! {
                biased;
                ev = events.next() => match ev {
                    Some(Ok(ev)) => actions.extend(event_action(&ev)),
                    Some(Err(e)) => return Err(e).context("reading terminal events"),
                    None => {
                        actions.push(Action::Quit);
                        break;
                    }
                },
                () = std::future::ready(()) => break,
            }
        }
        // What the backend queued so far (bounded: a frame still comes under a flood).
        for _ in 0..EVENT_QUEUE {
            match backend_events.try_recv() {
                Ok(e) => dirty |= backend_event(app, e, &mut actions),
                Err(_) => break,
            }
        }
        while let Ok(r) = results.try_recv() {
            actions.push(r);
        }
        for a in actions {
            dirty |= app.update(a);
        }
        for effect in std::mem::take(&mut app.effects) {
            if let Some(notice) = perform(effect, app, &mut clipboard, bg, backend) {
                dirty |= app.update(notice);
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}

/// Performs an effect: quick ones inline (their result returned), store and rule work on a
/// blocking thread (the result arrives later through `bg.tx`).
fn perform(
    effect: Effect,
    app: &App,
    clipboard: &mut Clipboard,
    bg: &Background,
    backend: &dyn Backend,
) -> Option<Action> {
    let effect = backend.perform(effect)?;
    Some(match effect {
        Effect::Copy { what, text } => match clipboard.copy(&text) {
            Ok(Method::System) => Action::Notice {
                text: format!("Copied {what} to the clipboard"),
                error: false,
            },
            Ok(Method::Osc52) => Action::Notice {
                text: format!("Copied {what} (OSC 52: via the terminal; no system clipboard)"),
                error: false,
            },
            Err(e) => Action::Notice {
                text: format!("Copy failed: {e}"),
                error: true,
            },
        },
        Effect::SaveRules if let RulesHome::Daemon(url) = &bg.rules => {
            let text = format!(
                "Not saved: attached to the daemon at {url}, whose rules live on its host; saving {} here would change nothing the daemon uses (edit the daemon's rule files there: it hot-reloads them)",
                app.editor.path.display()
            );
            let _ = bg.tx.send(Action::RulesReloaded(text.clone(), true));
            Action::RulesSaved(Err(text))
        }
        Effect::SaveRules => {
            let path = app.editor.path.clone();
            let result = write_atomic(&path, app.editor.text().as_bytes())
                .map_err(|e| format!("cannot save {}: {e}", path.display()));
            if result.is_ok() {
                if app.pipeline_running {
                    watch_reload(bg);
                } else if app.meta.rules_watched {
                    let _ = bg.tx.send(Action::RulesReloaded(
                        "Saved; the pipeline has stopped (sources done), so nothing reloads the rules"
                            .into(),
                        false,
                    ));
                }
            }
            Action::RulesSaved(result.map(|()| path.display().to_string()))
        }
        // The backend's (it returns none of them).
        Effect::Persist { .. }
        | Effect::LoadAlert { .. }
        | Effect::DriftAct { .. }
        | Effect::LoadOccurrences { .. }
        | Effect::LoadWorkspaces => {
            return None;
        }
        Effect::RunRuleTests => {
            let path = app.editor.path.clone();
            let convert = bg.convert.clone();
            let tx = bg.tx.clone();
            tokio::task::spawn_blocking(move || {
                let today = chrono::Local::now().date_naive();
                let report = match &convert {
                    Some(c) => {
                        let f = |v: &serde_json::Value| (c.0)(v);
                        crate::rules::run_tests(&[path], Some(&f), today)
                    }
                    None => crate::rules::run_tests(&[path], None, today),
                };
                let _ = tx.send(rule_test_action(&report));
            });
            return None;
        }
    })
}

/// The editor status line for a rule-test report.
fn rule_test_action(report: &crate::rules::TestReport) -> Action {
    let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        return Action::RuleTests(
            format!(
                "Rule tests: the file does not load ({} error{}): {}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                errors[0]
            ),
            true,
        );
    }
    let failed: Vec<_> = report.failures().collect();
    let passed = report.rows.len() - failed.len();
    if report.rows.is_empty() {
        return Action::RuleTests("Rule tests: this file has no tests".into(), false);
    }
    match failed.first() {
        None => Action::RuleTests(format!("Rule tests: {passed} passed, 0 failed"), false),
        Some(f) => Action::RuleTests(
            format!(
                "Rule tests: {passed} passed, {} failed · first: {} / {} ({}): {}",
                failed.len(),
                f.rule,
                f.name,
                f.location,
                f.why
            ),
            true,
        ),
    }
}

/// After a save: waits (off the UI thread) for the watcher to count a reload or a rejection,
/// then reports it to the editor. Unwatched files are reported when the save lands.
fn watch_reload(bg: &Background) {
    let RulesHome::Local(Some(w)) = bg.rules.clone() else {
        return;
    };
    let tx = bg.tx.clone();
    let before = w.counters();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        while start.elapsed() < RELOAD_WAIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = w.counters();
            if now == before {
                continue;
            }
            let (reloads, failures) = now;
            let action = if now.1 > before.1 {
                let errors = w.last_errors();
                let first = errors.first().map(ToString::to_string).unwrap_or_default();
                Action::RulesReloaded(
                    format!(
                        "Reload rejected; the pipeline keeps the previous rules ({} error{}): {first} · reloads {reloads}, rejected {failures}",
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    ),
                    true,
                )
            } else {
                Action::RulesReloaded(
                    format!(
                        "Reloaded: {} rules in force · reloads {reloads}, rejected {failures}",
                        w.rule_count()
                    ),
                    false,
                )
            };
            let _ = tx.send(action);
            return;
        }
        let (reloads, failures) = w.counters();
        let _ = tx.send(Action::RulesReloaded(
            format!(
                "No reload seen within {}s (unchanged content?) · reloads {reloads}, rejected {failures}",
                RELOAD_WAIT.as_secs()
            ),
            false,
        ));
    });
}
