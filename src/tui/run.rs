//! The runtime: terminal setup and restore (quit, panic, SIGTERM/SIGINT/SIGHUP), the event loop that drains
//! keys, alerts, counters and logs before drawing once, and the effects (clipboard, save).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::mpsc;

use super::app::{Action, App, Effect, Meta};
use super::clipboard::{Clipboard, Method};
#[cfg(doc)]
use super::editor::YamlSyntax;
use super::editor::{RuleEditor, RuleValidator, write_atomic};
use super::keymap::Keymap;
use super::logs::LogLine;
use super::theme::Theme;
use super::ui;
use crate::pipeline::PipelineHandle;

/// Most alerts folded into one update (keeps a frame coming even under a flood).
const MAX_BATCH: usize = 50_000;

/// What the UI needs besides the running pipeline.
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

/// Runs the UI until the user quits or a termination signal; stops the pipeline on the way out.
pub async fn run(
    opts: RunOptions,
    mut handle: PipelineHandle,
    mut logs: mpsc::Receiver<LogLine>,
) -> anyhow::Result<()> {
    let keymap = Keymap::load(opts.keymap_file.as_deref()).map_err(anyhow::Error::msg)?;
    // https://no-color.org: symbols, labels and reverse video still carry every meaning.
    let theme = if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        Theme::plain()
    } else {
        Theme::load(opts.theme_file.as_deref()).map_err(anyhow::Error::msg)?
    };
    let editor = RuleEditor::open(opts.rules_file.clone(), opts.validator);
    let mut app = App::new(opts.meta, keymap, theme, editor, Utc::now());
    let mut terminal = init_terminal()?;
    let result = event_loop(&mut terminal, &mut app, &mut handle, &mut logs).await;
    restore_terminal();
    // Nobody reads alerts any more: close the channel so the engine never blocks on it.
    handle.alerts.close();
    handle.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(3), handle.join()).await;
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    handle: &mut PipelineHandle,
    logs: &mut mpsc::Receiver<LogLine>,
) -> anyhow::Result<()> {
    let mut clipboard = Clipboard::new();
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut signals = Signals::new();
    let mut alerts_open = true;
    let mut stats_open = true;
    let mut logs_open = true;
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
            a = handle.alerts.recv(), if alerts_open => match a {
                Some(a) => actions.push(Action::Alerts(vec![a])),
                None => {
                    alerts_open = false;
                    actions.push(Action::PipelineDone);
                }
            },
            r = handle.stats.changed(), if stats_open => {
                if r.is_err() {
                    stats_open = false;
                }
                actions.push(Action::Stats(Box::new(handle.stats.borrow_and_update().clone())));
            },
            l = logs.recv(), if logs_open => match l {
                Some(l) => actions.push(Action::Logs(vec![l])),
                None => logs_open = false,
            },
            _ = tick.tick() => actions.push(Action::Tick(Utc::now())),
            name = signals.recv() => {
                tracing::info!(signal = name, "Signal received; quitting");
                actions.push(Action::Quit);
            },
        }
        // Drain everything already queued, then draw once.
        while let Some(Some(Ok(ev))) = events.next().now_or_never() {
            actions.extend(event_action(&ev));
        }
        if alerts_open {
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                match handle.alerts.try_recv() {
                    Ok(a) => batch.push(a),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        alerts_open = false;
                        actions.push(Action::PipelineDone);
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                actions.push(Action::Alerts(batch));
            }
        }
        let mut lines = Vec::new();
        while let Ok(l) = logs.try_recv() {
            lines.push(l);
        }
        if !lines.is_empty() {
            actions.push(Action::Logs(lines));
        }
        if stats_open && handle.stats.has_changed().unwrap_or(false) {
            actions.push(Action::Stats(Box::new(
                handle.stats.borrow_and_update().clone(),
            )));
        }
        for a in actions {
            dirty |= app.update(a);
        }
        for effect in std::mem::take(&mut app.effects) {
            let notice = perform(effect, app, &mut clipboard);
            dirty |= app.update(notice);
        }
        if app.quit {
            return Ok(());
        }
    }
}

fn perform(effect: Effect, app: &App, clipboard: &mut Clipboard) -> Action {
    match effect {
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
        Effect::SaveRules => {
            let path = app.editor.path.clone();
            let result = write_atomic(&path, app.editor.text().as_bytes())
                .map_err(|e| format!("cannot save {}: {e}", path.display()));
            Action::RulesSaved(result.map(|()| path.display().to_string()))
        }
    }
}
