//! The synchronous core of the pipeline: one normalised event in, alerts out, every outcome
//! counted. Sources, replay and the live runtime all drive this same engine.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::assemble::assemble;
use super::classify::{Silent, classify};
use super::stats::Stats;
use crate::alert::{Alert, Severity};
use crate::catalog::{Catalog, Lookup};
use crate::detect::{Detection, detect};
use crate::enrich::{DriftContext, EnrichSettings, Enricher};
use crate::event::CloudEvent;
use crate::map::map_event;
use crate::rules::{EvalContext, RuleSet, Verdict};
use crate::state::StateIndex;
use crate::store::{OutboxItem, Store};

/// How many event ids (and GCP operation ids) to remember for dedupe. Redeliveries arrive
/// within minutes, so a bounded window is enough and keeps memory flat.
const DEDUPE_WINDOW: usize = 200_000;

/// A bounded first-in-first-out set.
#[derive(Debug, Default)]
pub struct SeenSet {
    set: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
    cap: usize,
}

impl SeenSet {
    /// A set remembering at most `cap` entries.
    #[must_use]
    pub fn new(cap: usize) -> Self {
        SeenSet {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// Inserts; returns false when it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        let id: Arc<str> = Arc::from(id);
        self.set.insert(id.clone());
        self.order.push_back(id);
        true
    }

    /// Forgets `id` (its processing failed and a redelivery must be processed again).
    /// Linear in the window, which is fine on this rare path.
    pub fn remove(&mut self, id: &str) {
        if self.set.remove(id) {
            self.order.retain(|x| &**x != id);
        }
    }

    /// Whether `id` was seen.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

/// Settings the engine needs (a slice of the profile).
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Severity for drift no rule claims.
    pub default_severity: Severity,
    /// Globs over ARN, principal id or email of identities whose changes are Terraform's.
    pub terraform_principals: Vec<String>,
    /// Enrichment settings (tag keys).
    pub enrich: EnrichSettings,
}

/// What the engine tells its driver besides alerts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Signals {
    /// A Terraform-originated change touched state-managed infrastructure: refresh state now.
    pub refresh_state: bool,
}

/// Decides which notifications an alert produces; they are enqueued in the same transaction
/// that records the alert, so a crash can lose neither one without the other.
pub trait OutboxRouter: Send + Sync {
    /// Outbox items (channel + rendered payload) for one alert; empty for none.
    fn route(&self, alert: &Alert) -> Vec<OutboxItem>;

    /// Rules were reloaded: routing by rule `actions` must follow the rules the engine now
    /// evaluates. Routers that do not route by rule ignore it.
    fn set_rules(&self, _rules: &RuleSet) {}
}

impl std::fmt::Debug for dyn OutboxRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn OutboxRouter")
    }
}

/// The pipeline core.
pub struct Engine {
    catalog: Arc<Catalog>,
    state: Arc<StateIndex>,
    rules: Arc<RuleSet>,
    default_severity: Severity,
    terraform_principals: GlobSet,
    seen: SeenSet,
    operations: SeenSet,
    /// Durable dedupe, alert log and history; `None` for replay and tests.
    store: Option<Arc<dyn Store>>,
    /// Notifications to enqueue with each alert.
    router: Option<Arc<dyn OutboxRouter>>,
    /// Identity, tags, history, blast radius, remediation; holds the state's dependency graph.
    enricher: Enricher,
}

impl Engine {
    /// A new engine over a catalog and a state index.
    pub fn new(
        catalog: Arc<Catalog>,
        state: Arc<StateIndex>,
        opts: &EngineOptions,
    ) -> Result<Self, globset::Error> {
        let mut b = GlobSetBuilder::new();
        for p in &opts.terraform_principals {
            b.add(Glob::new(p)?);
        }
        let enricher = Enricher::new(&state, opts.enrich.clone());
        Ok(Engine {
            enricher,
            catalog,
            state,
            rules: Arc::new(RuleSet::empty()),
            default_severity: opts.default_severity,
            terraform_principals: b.build()?,
            seen: SeenSet::new(DEDUPE_WINDOW),
            operations: SeenSet::new(DEDUPE_WINDOW),
            store: None,
            router: None,
        })
    }

    /// Records processed events, alerts and history in `store` before returning alerts, and
    /// consults it for dedupe, so a redelivered event never alerts twice, across restarts.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.enricher.set_store(Some(store.clone()));
        self.store = Some(store);
        self
    }

    /// Enqueues notifications for each alert in the alert's own transaction (needs a store).
    #[must_use]
    pub fn with_outbox_router(mut self, router: Arc<dyn OutboxRouter>) -> Self {
        self.router = Some(router);
        self
    }

    /// The store, when one is attached.
    #[must_use]
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.store.as_ref()
    }

    /// Whether the store already processed this event, or its GCP operation. A store error is
    /// counted and treated as "not seen": better a duplicate alert than a lost one.
    fn seen_in_store(&self, ev: &CloudEvent, stats: &mut Stats) -> StoreSeen {
        let Some(store) = &self.store else {
            return StoreSeen::No;
        };
        let mut check = |key: &str| match store.is_seen(key) {
            Ok(seen) => seen,
            Err(e) => {
                stats.store_errors += 1;
                tracing::error!(error = %e, "Store dedupe lookup failed; processing the event");
                false
            }
        };
        if check(&ev.id) {
            StoreSeen::Event
        } else if ev
            .operation
            .as_ref()
            .is_some_and(|op| check(&operation_key(&op.id)))
        {
            StoreSeen::Operation
        } else {
            StoreSeen::No
        }
    }

    /// Records the alerts durably, with the event id, in one transaction.
    fn record(&self, ev: &CloudEvent, alerts: &[Alert], stats: &mut Stats) -> Recorded {
        let Some(store) = &self.store else {
            return Recorded::Yes;
        };
        let op_key = ev.operation.as_ref().map(|op| operation_key(&op.id));
        let mut keys = vec![ev.id.as_str()];
        keys.extend(op_key.as_deref());
        let outbox: Vec<OutboxItem> = self
            .router
            .as_ref()
            .map(|r| alerts.iter().flat_map(|a| r.route(a)).collect())
            .unwrap_or_default();
        match store.record_alerts(&keys, ev.time, alerts, &outbox) {
            Ok(true) => Recorded::Yes,
            Ok(false) => Recorded::Already,
            Err(e) => {
                stats.store_errors += 1;
                tracing::error!(event_id = %ev.id, error = %e, "Recording alerts failed; delivering them unrecorded (a redelivery records them)");
                Recorded::Failed
            }
        }
    }

    /// Swaps in a refreshed state index (the old one stays valid for whoever holds it).
    pub fn set_state(&mut self, state: Arc<StateIndex>) {
        self.enricher.set_state(&state);
        self.state = state;
    }

    /// Swaps in a rule set (hot reload: the next event uses it).
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        if let Some(r) = &self.router {
            r.set_rules(&rules);
        }
        self.rules = rules;
    }

    /// The enricher (and through it the state's dependency graph).
    #[must_use]
    pub fn enricher(&self) -> &Enricher {
        &self.enricher
    }

    /// The current state index.
    #[must_use]
    pub fn state(&self) -> &Arc<StateIndex> {
        &self.state
    }

    fn is_terraform_principal(&self, ev: &CloudEvent) -> bool {
        if self.terraform_principals.is_empty() {
            return false;
        }
        [
            &ev.actor.arn,
            &ev.actor.principal,
            &ev.actor.email,
            &ev.actor.session_issuer,
        ]
        .into_iter()
        .flatten()
        .any(|s| self.terraform_principals.is_match(s))
    }

    /// Processes one event: counts it and returns its alerts.
    pub fn process(
        &mut self,
        ev: &CloudEvent,
        stats: &mut Stats,
        signals: &mut Signals,
    ) -> Vec<Alert> {
        stats.records_read += 1;
        stats.parsed += 1;
        if !self.seen.insert(&ev.id) {
            stats.duplicates += 1;
            return Vec::new();
        }
        if let Some(op) = &ev.operation {
            // One alert per long-running operation: the first entry we see carries it.
            if !self.operations.insert(&op.id) {
                stats.operation_continuations += 1;
                return Vec::new();
            }
        }
        match classify(ev, self.is_terraform_principal(ev)) {
            Some(Silent::FailedCall) => {
                stats.failed_calls += 1;
                return Vec::new();
            }
            Some(Silent::ReadOnly) => {
                stats.read_only += 1;
                return Vec::new();
            }
            Some(Silent::DataPlane) => {
                stats.data_plane += 1;
                return Vec::new();
            }
            Some(Silent::TerraformOriginated) => {
                stats.terraform_originated += 1;
                signals.refresh_state = true;
                return Vec::new();
            }
            None => {}
        }
        let mapping = match self.catalog.lookup(ev) {
            Lookup::Found(m) => m,
            Lookup::Operational => {
                stats.operational += 1;
                return Vec::new();
            }
            Lookup::Unknown => {
                stats.unsupported += 1;
                let key = format!("{}:{}", ev.service, ev.action);
                *stats.unsupported_by_name.entry(key).or_default() += 1;
                return Vec::new();
            }
            Lookup::Ambiguous(types) => {
                let key = format!("{}:{} [{}]", ev.service, ev.action, types.join("|"));
                *stats.ambiguous.entry(key).or_default() += 1;
                return Vec::new();
            }
        };
        let touches = map_event(ev, mapping);
        if touches.is_empty() {
            *stats
                .no_resource
                .entry(format!("{}:{}", ev.service, ev.action))
                .or_default() += 1;
            return Vec::new();
        }
        match self.seen_in_store(ev, stats) {
            StoreSeen::Event => {
                stats.duplicates += 1;
                return Vec::new();
            }
            StoreSeen::Operation => {
                stats.operation_continuations += 1;
                return Vec::new();
            }
            StoreSeen::No => {}
        }
        stats.mapped += 1;
        let mut alerts = Vec::new();
        for touch in &touches {
            match detect(&self.state, touch) {
                Detection::InSync => stats.in_sync += 1,
                Detection::Drift(drift) => {
                    let mut alert = assemble(ev, &drift, self.default_severity);
                    let tags = drift.resource.and_then(|r| {
                        r.attributes
                            .get("tags")
                            .or_else(|| r.attributes.get("labels"))
                            .and_then(serde_json::Value::as_object)
                    });
                    let ctx = EvalContext {
                        default_severity: self.default_severity,
                        today: chrono::Utc::now().date_naive(),
                        tags,
                    };
                    match self.rules.apply(&mut alert, &ctx) {
                        Verdict::Keep => {}
                        Verdict::Skipped { rule } => {
                            *stats.filtered.entry(rule).or_default() += 1;
                            continue;
                        }
                        Verdict::Ignored { reason, .. } => {
                            *stats.ignored.entry(reason).or_default() += 1;
                            continue;
                        }
                    }
                    self.enricher.enrich(
                        &mut alert,
                        &DriftContext {
                            event: ev,
                            resource: drift.resource,
                            change: drift.change.kind,
                        },
                    );
                    alerts.push(alert);
                }
            }
        }
        if !alerts.is_empty() {
            match self.record(ev, &alerts, stats) {
                Recorded::Yes => {}
                Recorded::Already => {
                    // Another instance (or an earlier delivery) recorded this event meanwhile.
                    stats.mapped -= 1;
                    stats.duplicates += 1;
                    return Vec::new();
                }
                Recorded::Failed => {
                    // Nothing durable happened: forget the event so that a redelivery (the
                    // source is not acknowledged after a store error) records it. The alert is
                    // still shown now; a second copy downstream beats a lost record.
                    self.seen.remove(&ev.id);
                    if let Some(op) = &ev.operation {
                        self.operations.remove(&op.id);
                    }
                }
            }
        }
        for alert in &alerts {
            stats.alerts += 1;
            *stats
                .alerts_by_kind
                .entry(alert.kind.as_str().to_string())
                .or_default() += 1;
        }
        alerts
    }
}

/// What recording an event's alerts did.
enum Recorded {
    /// Committed (or there is no store).
    Yes,
    /// Another writer had recorded the event: drop the alerts.
    Already,
    /// The store failed: nothing was written.
    Failed,
}

/// What the store knows about an event.
enum StoreSeen {
    /// Nothing (or there is no store).
    No,
    /// The event id was processed.
    Event,
    /// Another entry of its GCP operation was processed.
    Operation,
}

/// The dedupe key of a GCP long-running operation.
#[must_use]
pub fn operation_key(id: &str) -> String {
    format!("op:{id}")
}
