//! One place that turns a profile's `notify:` settings into running parts: the channels, the
//! router the engine calls at record time, and the outbox worker. The terminal monitor and the
//! headless daemon both use it, so they route and deliver identically.

use std::sync::Arc;
use std::time::Duration;

use super::router::DEFAULT_DEDUPE_WINDOW;
use super::worker::WorkerConfig;
use super::{Channels, Notifier, NotifyRouter, NotifySettings};
use crate::pipeline::engine::OutboxRouter;
use crate::rules::RuleSet;
use crate::store::Store;

/// Channels, router and worker settings built from a profile.
#[derive(Debug)]
pub struct NotifySetup {
    /// Every configured channel.
    pub channels: Arc<Channels>,
    /// The router, when at least one channel is configured.
    pub router: Option<Arc<NotifyRouter>>,
    /// Worker tuning from the profile.
    pub worker: WorkerConfig,
}

impl NotifySetup {
    /// Reads secrets and builds every channel; all problems are reported together (never with a
    /// secret value in them).
    pub fn new(settings: &NotifySettings, rules: &RuleSet) -> Result<NotifySetup, String> {
        let channels = Arc::new(Channels::from_settings(settings).map_err(|errs| {
            format!(
                "notification settings have errors:\n  {}",
                errs.join("\n  ")
            )
        })?);
        let router = (!channels.is_empty()).then(|| {
            let window = settings
                .dedupe_window_secs
                .map_or(DEFAULT_DEDUPE_WINDOW, Duration::from_secs);
            Arc::new(NotifyRouter::new(channels.clone(), rules, window))
        });
        let worker = WorkerConfig {
            max_attempts: settings.max_attempts.unwrap_or(8),
            ..WorkerConfig::default()
        };
        Ok(NotifySetup {
            channels,
            router,
            worker,
        })
    }

    /// The router as the engine sees it (for `PipelineConfig::router`).
    #[must_use]
    pub fn outbox_router(&self) -> Option<Arc<dyn OutboxRouter>> {
        self.router.clone().map(|r| r as Arc<dyn OutboxRouter>)
    }

    /// Starts the outbox worker (inside a Tokio runtime) when any channel is configured.
    #[must_use]
    pub fn start(&self, store: Arc<dyn Store>) -> Option<Notifier> {
        self.router
            .is_some()
            .then(|| Notifier::start(store, &self.channels, self.worker.clone()))
    }
}
