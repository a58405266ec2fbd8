//! Routing at record time: which channels an alert goes to. Matched rules' `alert` actions name
//! channels; when none does, the profile's `defaults` apply. Each channel's minimum severity and
//! filters then apply, and identical drift within the dedupe window is counted, not re-sent to
//! that channel. Alerts that belong to a drift (`drift_id`) skip the window: the drift decides
//! (see `crate::drift`), in the store, whether its occurrence notifies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::limit::{Dedupe, Deduper, dedupe_key};
use super::{Channel, ChannelKind, Channels, Envelope};
use crate::alert::Alert;
use crate::pipeline::engine::OutboxRouter;
use crate::rules::RuleSet;
use crate::store::OutboxItem;

/// Default dedupe window.
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_mins(5);

/// The [`OutboxRouter`] the engine calls for each alert.
#[derive(Debug)]
pub struct NotifyRouter {
    channels: Arc<Channels>,
    rule_channels: Mutex<HashMap<String, Vec<String>>>,
    dedupe: Mutex<Deduper>,
    /// Issue trackers: when each (channel, drift) last had an occurrence flagged for a comment.
    commented: Mutex<HashMap<String, tokio::time::Instant>>,
    /// Alerts suppressed by dedupe.
    pub deduped: AtomicU64,
}

/// Rule id → channels its `alert` actions name.
#[must_use]
pub fn rule_channels(rules: &RuleSet) -> HashMap<String, Vec<String>> {
    rules
        .rules()
        .iter()
        .map(|r| {
            let mut cs: Vec<String> = Vec::new();
            for a in &r.actions {
                if let crate::rules::model::Action::Alert { channels } = a {
                    cs.extend(channels.iter().cloned());
                }
            }
            (r.id.clone(), cs)
        })
        .collect()
}

impl NotifyRouter {
    /// A router over configured channels and the rules in force.
    #[must_use]
    pub fn new(channels: Arc<Channels>, rules: &RuleSet, window: Duration) -> Self {
        NotifyRouter {
            channels,
            rule_channels: Mutex::new(rule_channels(rules)),
            dedupe: Mutex::new(Deduper::new(window)),
            commented: Mutex::new(HashMap::new()),
            deduped: AtomicU64::new(0),
        }
    }

    /// Takes new rules (hot reload).
    pub fn set_rules(&self, rules: &RuleSet) {
        if let Ok(mut m) = self.rule_channels.lock() {
            *m = rule_channels(rules);
        }
    }

    /// Channel names for an alert before severity and filters: the union of the configured
    /// channels that matched rules name, else the defaults. A rule naming only channels this
    /// profile does not configure (the shipped packs say `slack`, `pagerduty`) falls back to the
    /// defaults with a warning: a typo in a rule must never silence an alert.
    #[must_use]
    pub fn targets(&self, a: &Alert) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Ok(m) = self.rule_channels.lock() {
            for id in &a.rules {
                for c in m.get(id).into_iter().flatten() {
                    if !self.channels.by_name.contains_key(c) {
                        tracing::warn!(channel = %c, rule = %id, "A rule names a channel the profile does not configure; the profile's defaults apply instead");
                    } else if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
            }
        }
        if out.is_empty() {
            out.clone_from(&self.channels.defaults);
        }
        out
    }
}

impl NotifyRouter {
    /// Whether this occurrence of the alert's drift is one an issue-tracker channel comments
    /// (at most one per drift per the channel's interval; the channel checks again against the
    /// time it stored, so a restart does not add comments).
    fn flag_occurrence(&self, ch: &Channel, alert: &Alert, now: tokio::time::Instant) -> bool {
        let (Some(every), Some(drift)) = (ch.comment_interval(), alert.drift_id.as_deref()) else {
            return false;
        };
        let Ok(mut marks) = self.commented.lock() else {
            return false;
        };
        if marks.len() > 100_000 {
            marks.retain(|_, t| now.duration_since(*t) < every);
        }
        let key = format!("{}\0{drift}", ch.name);
        match marks.get(&key) {
            Some(t) if now.duration_since(*t) < every => false,
            _ => {
                marks.insert(key, now);
                true
            }
        }
    }
}

impl OutboxRouter for NotifyRouter {
    fn set_rules(&self, rules: &RuleSet) {
        NotifyRouter::set_rules(self, rules);
    }

    fn route(&self, alert: &Alert) -> Vec<OutboxItem> {
        let targets: Vec<&Channel> = self
            .targets(alert)
            .into_iter()
            .filter_map(|name| {
                self.channels
                    .by_name
                    .get(&name)
                    .filter(|c| c.accepts(alert))
                    .map(AsRef::as_ref)
            })
            .collect();
        if targets.is_empty() {
            return Vec::new();
        }
        // Dedupe per channel: each channel hears about a drift once per window, even when it
        // starts receiving it later (a rule reload, a different matching rule).
        let key = dedupe_key(alert);
        let now = tokio::time::Instant::now();
        let Ok(mut dedupe) = self.dedupe.lock() else {
            return Vec::new();
        };
        targets
            .into_iter()
            .filter_map(|c| {
                // An alert of a drift is routed every time: the store decides, in the alert's
                // transaction, whether the drift's channels hear it (a new or reopened drift, a
                // severity rise, a snooze ended) and drops the items otherwise. The window
                // applies to alerts without a drift.
                let repeats = if alert.drift_id.is_some() {
                    0
                } else {
                    match dedupe.check(&format!("{}\0{key}", c.name), now) {
                        Dedupe::Notify { repeats } => repeats,
                        Dedupe::Suppressed => {
                            self.deduped.fetch_add(1, Ordering::Relaxed);
                            return None;
                        }
                    }
                };
                Some(OutboxItem {
                    channel: c.name.clone(),
                    alert_id: alert.id.clone(),
                    payload: Envelope::Alert {
                        alert: Box::new(alert.clone()),
                        repeats,
                        resolve_on_ack: matches!(
                            c.kind,
                            ChannelKind::Pagerduty | ChannelKind::Opsgenie
                        ),
                        occurrences: self.flag_occurrence(c, alert, now),
                        drift: None,
                    }
                    .to_payload(),
                })
            })
            .collect()
    }
}
