//! Enrichment: every alert answers the on-call engineer's next questions without a second tool —
//! who really did it and how ([`identity`]), whose resource it is ([`tags`]), what else changed
//! lately (history from the store), what depends on it ([`graph`]), and how to put it back
//! ([`remediation`]).
//!
//! [`Enricher`] holds what is built once per state index (the reverse-dependency graph) and the
//! store handle; [`Enricher::enrich`] is a few index lookups per alert.

pub mod graph;
pub mod identity;
pub mod remediation;
pub mod tags;

use std::sync::Arc;

use chrono::Duration;
use serde::Deserialize;

use crate::alert::{Alert, HistoryItem};
use crate::catalog::ChangeKind;
use crate::event::CloudEvent;
use crate::state::{Resource, StateIndex};
use crate::store::{HistoryEntry, Store, actor_key, add_day, resource_key};

pub use graph::DependencyGraph;
pub use tags::TagKeys;

/// Earlier changes to the resource listed at most (the counts cover the rest). Every item is
/// stored and sent with the alert, so the list stays short.
const MAX_RECENT: usize = 10;
/// The actor's other changes listed at most.
const MAX_ACTOR_RECENT: usize = 5;
/// History window.
const HISTORY_DAYS: i64 = 7;
/// Per-day counts stop after this many changes in the window (the alert says so): bounded
/// work per alert however often a resource flaps.
const HISTORY_COUNT_CAP: usize = 1000;

/// `enrich:` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichSettings {
    /// Tag keys for owner, team, environment, cost centre.
    pub tag_keys: TagKeys,
}

/// Per-engine enrichment context.
pub struct Enricher {
    settings: EnrichSettings,
    graph: Arc<DependencyGraph>,
    store: Option<Arc<dyn Store>>,
}

/// What the enricher needs to know about the drift besides the alert.
pub struct DriftContext<'a> {
    /// The event.
    pub event: &'a CloudEvent,
    /// The managed resource, when a state holds it.
    pub resource: Option<&'a Resource>,
    /// Create / update / delete / tag.
    pub change: ChangeKind,
    /// History rows of alerts raised before this one but not committed yet (the engine's
    /// current group): they count as earlier changes.
    pub pending: &'a [HistoryEntry],
}

impl Enricher {
    /// Builds the dependency graph of `state`.
    #[must_use]
    pub fn new(state: &StateIndex, settings: EnrichSettings) -> Self {
        Enricher {
            settings,
            graph: Arc::new(DependencyGraph::new(state)),
            store: None,
        }
    }

    /// Rebuilds the graph for a refreshed state.
    pub fn set_state(&mut self, state: &StateIndex) {
        self.graph = Arc::new(DependencyGraph::new(state));
    }

    /// Reads history from `store`.
    pub fn set_store(&mut self, store: Option<Arc<dyn Store>>) {
        self.store = store;
    }

    /// The dependency graph of the current state.
    #[must_use]
    pub fn graph(&self) -> &Arc<DependencyGraph> {
        &self.graph
    }

    /// Fills `alert.enrichment` and appends remediation lines (after any rule's own).
    pub fn enrich(&self, alert: &mut Alert, ctx: &DriftContext<'_>) {
        let e = &mut alert.enrichment;
        e.identity = identity::identity(ctx.event);
        tags::apply(
            e,
            ctx.resource.map(|r| &r.attributes),
            &ctx.event.request,
            &self.settings.tag_keys,
        );
        if let Some(addr) = &alert.resource.address {
            e.blast_radius = self.graph.blast_radius(addr);
        }
        if let Some(store) = &self.store {
            self.history(store.as_ref(), alert, ctx.pending);
        }
        let lines = remediation::lines(alert, ctx.change);
        for l in lines {
            if !alert.remediation.contains(&l) {
                alert.remediation.push(l);
            }
        }
    }

    /// Seven days of earlier changes to the resource and by the actor: the store's rows plus
    /// `pending` (alerts raised but not yet committed: the engine records a group of events in
    /// one transaction). A store error leaves the history empty (the alert matters more than
    /// its context).
    fn history(&self, store: &dyn Store, alert: &mut Alert, pending: &[HistoryEntry]) {
        let _ = self;
        let t = alert.time;
        let since = t - Duration::days(HISTORY_DAYS);
        let key = resource_key(&alert.resource);
        let earlier = |r: &HistoryEntry| r.time > since && r.time <= t && r.alert_id != alert.id;
        let h = &mut alert.enrichment.history;
        match store.history_summary(&key, t, MAX_RECENT + 1, HISTORY_COUNT_CAP) {
            Ok(sum) => {
                let staged: Vec<&HistoryEntry> = pending
                    .iter()
                    .filter(|p| p.resource_key == key && earlier(p))
                    .collect();
                h.days = sum.days;
                for p in &staged {
                    add_day(&mut h.days, t, p.time);
                }
                h.capped = sum.capped;
                h.recent = newest(&staged, sum.recent, &earlier, MAX_RECENT);
            }
            Err(e) => tracing::warn!(error = %e, "History lookup failed"),
        }
        if let Some(actor) = actor_key(&alert.actor) {
            match store.actor_recent(&actor, since, MAX_ACTOR_RECENT + 1) {
                Ok(stored) => {
                    let staged: Vec<&HistoryEntry> = pending
                        .iter()
                        .filter(|p| p.actor.as_deref() == Some(actor.as_str()))
                        .collect();
                    h.actor_recent = newest(&staged, stored, &earlier, MAX_ACTOR_RECENT);
                }
                Err(e) => tracing::warn!(error = %e, "Actor history lookup failed"),
            }
        }
    }
}

/// The newest `limit` of `staged` (raised in the engine's current group, oldest first) and
/// `stored` (from the store, newest first) that pass `keep`, newest first. Staged rows are newer
/// than stored ones of the same time, the last staged newest: a stable sort of [staged newest
/// first, stored newest first] keeps that.
fn newest(
    staged: &[&HistoryEntry],
    stored: Vec<HistoryEntry>,
    keep: &impl Fn(&HistoryEntry) -> bool,
    limit: usize,
) -> Vec<HistoryItem> {
    let mut rows: Vec<HistoryEntry> = staged.iter().rev().map(|h| (*h).clone()).collect();
    rows.extend(stored);
    rows.retain(|r| keep(r));
    rows.sort_by_key(|r| std::cmp::Reverse(r.time));
    rows.into_iter()
        .take(limit)
        .map(|h| HistoryItem {
            time: h.time,
            resource: h.resource_key,
            address: h.address,
            actor: h.actor,
            kind: h.kind,
            event_name: h.event_name,
            alert_id: h.alert_id,
        })
        .collect()
}
