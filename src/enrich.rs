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
use crate::store::{HistoryEntry, Store, actor_key, resource_key};

pub use graph::DependencyGraph;
pub use tags::TagKeys;

/// Earlier changes to the resource listed at most.
const MAX_RECENT: usize = 20;
/// The actor's other changes listed at most.
const MAX_ACTOR_RECENT: usize = 10;
/// History window.
const HISTORY_DAYS: i64 = 7;

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
            self.history(store.as_ref(), alert);
        }
        let lines = remediation::lines(alert, ctx.change);
        for l in lines {
            if !alert.remediation.contains(&l) {
                alert.remediation.push(l);
            }
        }
    }

    /// Seven days of earlier changes to the resource and by the actor. A store error leaves
    /// the history empty (the alert matters more than its context).
    fn history(&self, store: &dyn Store, alert: &mut Alert) {
        let _ = self;
        let t = alert.time;
        let since = t - Duration::days(HISTORY_DAYS);
        let item = |h: HistoryEntry| HistoryItem {
            time: h.time,
            resource: h.resource_key,
            address: h.address,
            actor: h.actor,
            kind: h.kind,
            event_name: h.event_name,
            alert_id: h.alert_id,
        };
        let key = resource_key(&alert.resource);
        let h = &mut alert.enrichment.history;
        match store.history(&key, since) {
            Ok(rows) => {
                let earlier: Vec<HistoryEntry> = rows
                    .into_iter()
                    .filter(|r| r.time <= t && r.alert_id != alert.id)
                    .collect();
                for r in &earlier {
                    let age = (t - r.time).num_seconds().max(0);
                    let day = usize::try_from(age / 86_400).unwrap_or(usize::MAX);
                    if day < 7 {
                        h.days[6 - day] += 1;
                    }
                }
                h.recent = earlier
                    .into_iter()
                    .rev()
                    .take(MAX_RECENT)
                    .map(item)
                    .collect();
            }
            Err(e) => tracing::warn!(error = %e, "History lookup failed"),
        }
        if let Some(actor) = actor_key(&alert.actor) {
            match store.actor_recent(&actor, since, MAX_ACTOR_RECENT + 1) {
                Ok(rows) => {
                    h.actor_recent = rows
                        .into_iter()
                        .filter(|r| r.time <= t && r.alert_id != alert.id)
                        .take(MAX_ACTOR_RECENT)
                        .map(item)
                        .collect();
                }
                Err(e) => tracing::warn!(error = %e, "Actor history lookup failed"),
            }
        }
    }
}
