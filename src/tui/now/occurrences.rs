//! A drift's occurrences, as `Enter` on the Now board lists them: its alerts, newest first,
//! each with when, who, how (via) and the value observed then. They come from whatever backs
//! the monitor (the store in-process, `GetDrift` in team mode); until then the list says it is
//! loading, and a failure says why. The details follow the selected occurrence; `Enter` focuses
//! them, `Esc` goes back to the board.

use std::cell::Cell;

use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertKind};
use crate::drift::Drift;

/// Occurrences asked for at most (the newest; a drift an automation fights has thousands).
pub const LIMIT: u32 = 200;

/// The occurrence list of one drift.
#[derive(Debug, Default)]
pub struct Occurrences {
    /// The drift.
    pub drift_id: String,
    /// Its alerts, newest first; `None` while loading.
    pub alerts: Option<Vec<Alert>>,
    /// Why they could not be loaded.
    pub error: Option<String>,
    /// Selected row.
    pub sel: usize,
    /// Render-derived: first visible row.
    pub offset: Cell<usize>,
}

impl Occurrences {
    /// The list of `drift_id`, loading.
    #[must_use]
    pub fn loading(drift_id: &str) -> Occurrences {
        Occurrences {
            drift_id: drift_id.to_string(),
            ..Occurrences::default()
        }
    }

    /// The selected alert, once loaded.
    #[must_use]
    pub fn selected(&self) -> Option<&Alert> {
        self.alerts.as_ref()?.get(self.sel)
    }

    /// Moves the selection by `delta` (clamped).
    pub fn move_sel(&mut self, delta: isize) {
        let n = self.alerts.as_ref().map_or(0, Vec::len);
        self.sel = self
            .sel
            .saturating_add_signed(delta)
            .min(n.saturating_sub(1));
    }

    /// Sets the loaded alerts (newest first, whatever order they came in).
    pub fn loaded(&mut self, mut alerts: Vec<Alert>) {
        alerts.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
        self.alerts = Some(alerts);
        self.error = None;
        self.sel = 0;
    }
}

/// One occurrence as text (the view styles it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccurrenceCells {
    /// `14:03:07` today, `Nov 26 14:03` otherwise.
    pub time: String,
    /// Who made the change.
    pub actor: String,
    /// `console`, `cli`, `terraform` …
    pub via: String,
    /// The event (`ModifyInstanceAttribute`).
    pub event: String,
    /// The value observed for the drift's attribute (or what happened to the resource).
    pub observed: String,
}

/// The cells of `a`, an occurrence of `d`.
#[must_use]
pub fn cells(a: &Alert, d: Option<&Drift>, now: DateTime<Utc>) -> OccurrenceCells {
    let time = if a.time.date_naive() == now.date_naive() {
        a.time.format("%H:%M:%S").to_string()
    } else {
        a.time.format("%b %d %H:%M").to_string()
    };
    let attribute = d.map_or("", |d| d.attribute.as_str());
    let observed = a
        .diffs
        .iter()
        .find(|x| x.path == attribute)
        .or_else(|| {
            if attribute.is_empty() {
                None
            } else {
                a.diffs.first()
            }
        })
        .map_or_else(
            || match a.kind {
                AlertKind::AttributeDrift => "(changed)".to_string(),
                k => k.as_str().replace('_', " "),
            },
            |x| compact(&x.observed),
        );
    OccurrenceCells {
        time,
        actor: crate::tui::feed::actor_label(a).to_string(),
        via: crate::tui::filter::via_name(a.actor.via).to_string(),
        event: a.event.name.clone(),
        observed,
    }
}

/// A JSON value on one line: strings bare, the rest as JSON.
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}
