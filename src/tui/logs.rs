//! A `tracing` layer that feeds the in-app log pane: while the TUI owns the terminal nothing
//! may be written to stdout or stderr. Bounded: lines that do not fit are counted, not kept.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When.
    pub time: DateTime<Utc>,
    /// Level.
    pub level: Level,
    /// Module path / target.
    pub target: String,
    /// Message then `key=value` fields.
    pub text: String,
}

/// The layer: sends each record on a bounded channel.
#[derive(Debug, Clone)]
pub struct LogLayer {
    tx: mpsc::Sender<LogLine>,
    dropped: Arc<AtomicU64>,
}

/// Capacity of the log channel.
pub const LOG_CAPACITY: usize = 2048;

impl LogLayer {
    /// A layer and the receiver the UI drains; the counter counts lines dropped when full.
    #[must_use]
    pub fn new() -> (LogLayer, mpsc::Receiver<LogLine>, Arc<AtomicU64>) {
        let (tx, rx) = mpsc::channel(LOG_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        (
            LogLayer {
                tx,
                dropped: dropped.clone(),
            },
            rx,
            dropped,
        )
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let line = LogLine {
            time: Utc::now(),
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            text: format!("{}{}", f.message, f.rest),
        };
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
