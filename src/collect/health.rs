//! Health of live sources: connected or not, last event, lag, errors. Sources write into a
//! shared [`HealthRegistry`]; the engine task copies it into [`Stats::sources`] whenever it
//! publishes counters.
//!
//! [`Stats::sources`]: crate::pipeline::Stats::sources

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pipeline::Stats;

/// One source's health.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct SourceHealth {
    /// Source kind (`sqs`, `falco_http`).
    pub kind: String,
    /// The last call to the service (or the listener) succeeded.
    pub connected: bool,
    /// When the last event arrived.
    pub last_event: Option<DateTime<Utc>>,
    /// Receive time minus the event's own time for the last event, in milliseconds.
    pub lag_ms: Option<i64>,
    /// Events handed to the pipeline.
    pub events: u64,
    /// Errors (service calls, fetches, bad requests).
    pub errors: u64,
    /// The last error.
    pub last_error: Option<String>,
    /// Inputs that were redelivered too often (poison messages), still left for redelivery.
    pub poison: u64,
    /// Listeners (Falco HTTP): connections open now.
    pub connections_open: u64,
    /// Listeners: connections refused because the connection cap was reached.
    pub connections_refused: u64,
    /// Listeners: connections closed because a header or body did not arrive in time.
    pub connections_timed_out: u64,
    /// Listeners: requests refused for a missing or wrong bearer token.
    pub unauthorized: u64,
}

/// Shared health of every source, by name.
#[derive(Debug, Clone, Default)]
pub struct HealthRegistry {
    inner: Arc<Mutex<BTreeMap<String, SourceHealth>>>,
}

impl HealthRegistry {
    /// Updates one source's entry (created on first use with `kind`).
    pub fn update(&self, name: &str, kind: &str, f: impl FnOnce(&mut SourceHealth)) {
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = map.entry(name.to_string()).or_insert_with(|| SourceHealth {
            kind: kind.to_string(),
            ..SourceHealth::default()
        });
        f(entry);
    }

    /// Records a successful contact.
    pub fn ok(&self, name: &str, kind: &str) {
        self.update(name, kind, |h| h.connected = true);
    }

    /// Records an error.
    pub fn error(&self, name: &str, kind: &str, err: &str) {
        self.update(name, kind, |h| {
            h.connected = false;
            h.errors += 1;
            h.last_error = Some(err.to_string());
        });
    }

    /// Records `n` events, the newest of which happened at `event_time`.
    pub fn events(&self, name: &str, kind: &str, n: u64, event_time: Option<DateTime<Utc>>) {
        let now = Utc::now();
        self.update(name, kind, |h| {
            h.connected = true;
            h.events += n;
            if n > 0 {
                h.last_event = Some(now);
                h.lag_ms = event_time.map(|t| (now - t).num_milliseconds());
            }
        });
    }

    /// A copy of every entry.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, SourceHealth> {
        match self.inner.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Copies the entries into `stats`.
    pub fn fill(&self, stats: &mut Stats) {
        let snap = self.snapshot();
        if !snap.is_empty() {
            stats.sources = snap;
        }
    }
}
