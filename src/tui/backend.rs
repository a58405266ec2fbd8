//! The monitor's client interface: everything the UI needs from the pipeline side — the alert
//! stream, counters, logs, recent alerts at start, open drifts, one alert in full, and acting
//! on alerts and drifts — behind one [`Backend`]. [`local::Local`] runs the pipeline in this
//! process (profiles without `daemon:`); [`remote::Remote`] attaches to a team-mode daemon
//! over gRPC. The event loop ([`super::run`]) has one path for both.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::app::{Action, App, Effect, Meta};
use super::feed::{Handled, Status};
use super::logs::LogLine;
use crate::rules::watch::WatchStatus;

pub mod local;
pub mod remote;

/// Something from the pipeline side for the event loop.
#[derive(Debug)]
pub enum Event {
    /// For [`App::update`].
    Action(Action),
    /// Team mode: the daemon link changed (the header, and read-only for a viewer token).
    Link(DaemonLink),
    /// Team mode: the daemon's live sources (health names), one header chip each.
    Sources(Vec<String>),
}

/// Where the rule editor's file lives, which decides what a save does.
#[derive(Debug, Clone)]
pub enum RulesHome {
    /// On this machine, loaded by the in-process pipeline (its watcher, when it watches files).
    Local(Option<WatchStatus>),
    /// On the daemon (its URL): a local save would change nothing the daemon uses.
    Daemon(String),
}

/// What backs the monitor. Work that waits (store, network) runs off the UI task; its results
/// arrive as [`Event`]s (the stream) or [`Action`]s (answers to effects).
pub trait Backend: Send {
    /// Starts the background work. The stream (alerts, counters, logs, drifts, connection
    /// state) goes to `events` (bounded: a UI that stops reading slows the source down, never
    /// grows memory); answers to [`Backend::perform`] go to `results`.
    fn start(&mut self, events: mpsc::Sender<Event>, results: mpsc::UnboundedSender<Action>);

    /// Performs an effect that needs the store or the daemon ([`Effect::Persist`],
    /// [`Effect::LoadAlert`], [`Effect::DriftAct`]); others are returned untouched for the
    /// runtime. The answer comes later through `results`.
    fn perform(&self, effect: Effect) -> Option<Effect>;

    /// Where the rule editor's rules live.
    fn rules_home(&self) -> RulesHome;

    /// Stops the background work (the pipeline, or the connection), bounded in time.
    fn stop(self: Box<Self>) -> Stopping;
}

/// What [`Backend::stop`] returns: awaited (with a bound) as the monitor exits.
pub type Stopping = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The state of the link to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// First attempt under way.
    Connecting,
    /// Attached; the stream flows.
    Connected,
    /// Lost or not made; the next attempt at `at`.
    Reconnecting {
        /// When the next attempt starts.
        at: DateTime<Utc>,
        /// Why (short: `connection refused`).
        why: String,
    },
    /// The daemon refuses this monitor (token, version, TLS trust): no retry.
    Refused(String),
}

/// A monitor's daemon, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonLink {
    /// `host:port`.
    pub addr: String,
    /// Connection state.
    pub state: LinkState,
    /// Who the daemon says we are (the token's name) and the role, once connected.
    pub caller: Option<(String, String)>,
    /// The daemon's tfdrift version, once connected.
    pub version: String,
    /// The profile the daemon runs, once connected.
    pub profile: String,
    /// When the daemon started (from its uptime), once connected.
    pub started: Option<DateTime<Utc>>,
}

impl DaemonLink {
    /// A link to `url` that is being made.
    #[must_use]
    pub fn connecting(url: &str) -> DaemonLink {
        DaemonLink {
            addr: host_port(url),
            state: LinkState::Connecting,
            caller: None,
            version: String::new(),
            profile: String::new(),
            started: None,
        }
    }

    /// The role the daemon gave our token (`viewer`, `responder`, `admin`).
    #[must_use]
    pub fn role(&self) -> Option<&str> {
        self.caller.as_ref().map(|(_, r)| r.as_str())
    }
}

/// `https://host:7443/` → `host:7443`.
#[must_use]
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_string()
}

impl Meta {
    /// Why writes are refused, for the refusal message: `--readonly`, or the daemon gave this
    /// monitor's token the viewer role.
    #[must_use]
    pub fn readonly_reason(&self) -> String {
        match self.daemon.as_ref().and_then(|d| d.caller.as_ref()) {
            Some((name, role)) if role == "viewer" => format!(
                "token '{name}' has the viewer role on the daemon; acknowledging, snoozing and resolving need responder"
            ),
            _ => "started with --readonly".to_string(),
        }
    }
}

impl App {
    /// [`Action::StatusChanged`]: sets the alert's status and who set it, wherever it is in
    /// the feed (unknown ids are ignored: older than the feed holds).
    pub(crate) fn on_status_changed(
        &mut self,
        id: &str,
        status: Status,
        by: Option<Handled>,
    ) -> bool {
        let found = (0..self.feed.total())
            .rev()
            .filter_map(|i| u32::try_from(i).ok())
            .find(|i| self.feed.entry(*i).is_some_and(|e| e.alert.id == id));
        let Some(idx) = found else {
            return false;
        };
        let sel_idx = self.selected_index();
        self.feed.set_status_by(idx, status, by);
        if let Some(pos) = sel_idx.and_then(|i| self.feed.position_of(i))
            && !self.follow
        {
            self.sel = pos;
        }
        self.sel = self.sel.min(self.feed.shown().saturating_sub(1));
        true
    }
}

/// Forwards the monitor's own log lines (batched) until either side closes.
pub(crate) async fn forward_logs(mut logs: mpsc::Receiver<LogLine>, tx: mpsc::Sender<Event>) {
    while let Some(first) = logs.recv().await {
        let mut lines = vec![first];
        while let Ok(l) = logs.try_recv() {
            lines.push(l);
        }
        if tx.send(Event::Action(Action::Logs(lines))).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
