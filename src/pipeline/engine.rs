//! The synchronous core of the pipeline: one normalised event in, alerts out, every outcome
//! counted. Sources, replay and the live runtime all drive this same engine.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::assemble::assemble;
use super::classify::{Silent, classify};
use super::stats::Stats;

mod lifecycle;
use crate::alert::{Alert, Severity};
use crate::catalog::{Catalog, Lookup};
use crate::detect::{Detection, detect};
use crate::drift::{DriftOp, Reason, Resolution};
use crate::enrich::{DriftContext, EnrichSettings, Enricher};
use crate::event::CloudEvent;
use crate::map::map_event;
use crate::rules::{EvalContext, RuleSet, Verdict};
use crate::state::StateIndex;
use crate::store::{EventRecord, HistoryEntry, OutboxItem, Store};
use lifecycle::{Touched, event_actor};

/// How many event ids (and GCP operation ids) to remember for dedupe. Redeliveries arrive
/// within minutes, so a bounded window is enough and keeps memory flat.
const DEDUPE_WINDOW: usize = 200_000;

/// The dedupe sets' hasher: foldhash (already in the dependency tree, via hashbrown), several
/// times faster than std's SipHash on the ~36-byte ids every record is checked with (issue 19).
///
/// The keys are NOT trusted: event ids reach the live daemon from network sources (Falco HTTP
/// posts, Falco's `ct.id`, files anyone could have written), so some DoS resistance is kept: each
/// set's seeds (per-hasher and shared) are drawn from std's OS-seeded `RandomState` and never
/// leave the process, so colliding ids cannot be precomputed; foldhash is "minimally
/// DoS-resistant" by design (it does not stand up to an attacker who can study the process for
/// its seed), which the bounded window (`cap` entries) limits further.
#[derive(Clone)]
struct SeenHasher(foldhash::fast::SeedableRandomState);

impl Default for SeenHasher {
    fn default() -> Self {
        use std::hash::{BuildHasher as _, Hasher as _};
        static SHARED: std::sync::OnceLock<foldhash::SharedSeed> = std::sync::OnceLock::new();
        let os_random = |salt: u64| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(salt);
            h.finish()
        };
        let shared = SHARED.get_or_init(|| foldhash::SharedSeed::from_u64(os_random(1)));
        SeenHasher(foldhash::fast::SeedableRandomState::with_seed(
            os_random(2),
            shared,
        ))
    }
}

impl std::hash::BuildHasher for SeenHasher {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

impl std::fmt::Debug for SeenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeenHasher")
    }
}

/// A bounded first-in-first-out set.
#[derive(Debug, Default)]
pub struct SeenSet {
    set: HashSet<Arc<str>, SeenHasher>,
    order: VecDeque<Arc<str>>,
    cap: usize,
}

impl SeenSet {
    /// A set remembering at most `cap` entries.
    #[must_use]
    pub fn new(cap: usize) -> Self {
        SeenSet {
            set: HashSet::default(),
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
    /// `lifecycle.ignore_changes` of the profile's workspaces (drift there is not alerted).
    pub ignore_changes: Arc<crate::reconcile::IgnoreSet>,
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
    /// Events whose alerts wait for [`Engine::commit`], in order.
    staged: Vec<Staged>,
    /// History rows of the staged alerts (enrichment counts them as earlier changes).
    staged_history: Vec<HistoryEntry>,
    /// Resources (address, or `type:id`) that may have unresolved drifts: an in-sync event on
    /// one of them is recorded with a `reverted` resolution. Loaded from the store on first
    /// use, then grown; never shrunk (a stale entry costs one store write, no wrong answer).
    drifted: Option<HashSet<String>>,
    /// Addresses Terraform changed (and by whom, when), waiting for a refreshed state to show
    /// whether their drifts were applied.
    terraform_touched: Touched,
    /// `lifecycle.ignore_changes`: drift there is counted `ignored_by_config`, not alerted.
    ignore_changes: Arc<crate::reconcile::IgnoreSet>,
}

/// One event's alerts between [`Engine::stage`] and [`Engine::commit`].
struct Staged {
    event_id: String,
    /// The GCP operation id, when the event has one.
    operation: Option<String>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    alerts: Vec<Alert>,
    outbox: Vec<OutboxItem>,
    /// Drift occurrences and resolutions, applied in the event's transaction.
    drifts: Vec<DriftOp>,
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
            staged: Vec::new(),
            staged_history: Vec::new(),
            drifted: None,
            terraform_touched: HashMap::new(),
            ignore_changes: opts.ignore_changes.clone(),
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

    /// How many events have alerts waiting for [`Engine::commit`].
    #[must_use]
    pub fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Records every staged event's alerts durably in ONE store transaction (group commit: one
    /// fsync for a group of events instead of one each) and returns the alerts to deliver, in
    /// staging order. An event another writer recorded meanwhile is dropped as a duplicate. When
    /// the store fails, every staged event is forgotten so that its redelivery (the source is
    /// not acknowledged after a store error) records it, and its alerts are still returned: a
    /// second copy on screen beats a lost alert.
    pub fn commit(&mut self, stats: &mut Stats) -> Vec<Alert> {
        self.staged_history.clear();
        if self.staged.is_empty() {
            return Vec::new();
        }
        let staged = std::mem::take(&mut self.staged);
        let outcome = match &self.store {
            None => Ok(vec![true; staged.len()]),
            Some(store) => {
                // Keys marked processed with the alerts: the event id, then the operation key.
                let op_keys: Vec<Option<String>> = staged
                    .iter()
                    .map(|s| s.operation.as_deref().map(operation_key))
                    .collect();
                let keys: Vec<Vec<&str>> = staged
                    .iter()
                    .zip(&op_keys)
                    .map(|(s, op)| {
                        std::iter::once(s.event_id.as_str())
                            .chain(op.as_deref())
                            .collect()
                    })
                    .collect();
                let batch: Vec<EventRecord<'_>> = staged
                    .iter()
                    .zip(&keys)
                    .map(|(s, k)| EventRecord {
                        seen: k,
                        time: s.time,
                        alerts: &s.alerts,
                        outbox: &s.outbox,
                        drifts: &s.drifts,
                    })
                    .collect();
                store.record_batch(&batch)
            }
        };
        let recorded = match outcome {
            Ok(r) => {
                stats.store_commits += u64::from(self.store.is_some());
                r
            }
            Err(e) => {
                stats.store_errors += 1;
                tracing::error!(events = staged.len(), first_event_id = %staged[0].event_id, error = %e, "Recording alerts failed; delivering them unrecorded (a redelivery records them)");
                for s in &staged {
                    self.seen.remove(&s.event_id);
                    if let Some(op) = &s.operation {
                        self.operations.remove(op);
                    }
                }
                vec![true; staged.len()]
            }
        };
        let mut out = Vec::new();
        for (s, fresh) in staged.into_iter().zip(recorded) {
            if !fresh {
                // Another instance (or an earlier delivery) recorded this event meanwhile.
                stats.mapped = stats.mapped.saturating_sub(1);
                stats.duplicates += 1;
                continue;
            }
            for alert in &s.alerts {
                stats.alerts += 1;
                *stats
                    .alerts_by_kind
                    .entry(alert.kind.as_str().to_string())
                    .or_default() += 1;
            }
            out.extend(s.alerts);
        }
        out
    }

    /// Swaps in a refreshed state index (the old one stays valid for whoever holds it).
    pub fn set_state(&mut self, state: Arc<StateIndex>) {
        self.enricher.set_state(&state);
        self.state = state;
    }

    /// Swaps in a catalog (hot reload of the profile's catalog files: the next event uses it).
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.catalog = catalog;
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

    /// Processes one event: counts it, records its alerts and returns them.
    pub fn process(
        &mut self,
        ev: &CloudEvent,
        stats: &mut Stats,
        signals: &mut Signals,
    ) -> Vec<Alert> {
        self.stage(ev, stats, signals);
        self.commit(stats)
    }

    /// Counts a record the replay prefilter found silent (`kind` from
    /// [`super::classify::silent_call`]) exactly as [`Engine::stage`] counts its event: read,
    /// parsed, remembered for dedupe (a repeat is a duplicate), then silent. Such a record has no
    /// operation, no unreadable field and raises nothing, so no event is built for it.
    pub fn stage_silent(&mut self, id: &str, kind: Silent, stats: &mut Stats) {
        stats.records_read += 1;
        stats.parsed += 1;
        if !self.seen.insert(id) {
            stats.duplicates += 1;
            return;
        }
        match kind {
            Silent::FailedCall => stats.failed_calls += 1,
            Silent::ReadOnly => stats.read_only += 1,
            Silent::DataPlane => stats.data_plane += 1,
            // Never from `silent_call`: Terraform's changes need the event (a state refresh).
            Silent::TerraformOriginated => stats.terraform_originated += 1,
        }
    }

    /// Evaluates one event and counts it; its alerts wait, with earlier staged ones, for
    /// [`Engine::commit`] (the live runtime stages everything it drained, then commits once).
    pub fn stage(&mut self, ev: &CloudEvent, stats: &mut Stats, signals: &mut Signals) {
        stats.records_read += 1;
        stats.parsed += 1;
        stats.unreadable_fields(ev);
        if !self.seen.insert(&ev.id) {
            stats.duplicates += 1;
            return;
        }
        if let Some(op) = &ev.operation {
            // One alert per long-running operation: the first entry we see carries it.
            if !self.operations.insert(&op.id) {
                stats.operation_continuations += 1;
                return;
            }
        }
        match classify(ev, self.is_terraform_principal(ev)) {
            Some(Silent::FailedCall) => {
                stats.failed_calls += 1;
                return;
            }
            Some(Silent::ReadOnly) => {
                stats.read_only += 1;
                return;
            }
            Some(Silent::DataPlane) => {
                stats.data_plane += 1;
                return;
            }
            Some(Silent::TerraformOriginated) => {
                stats.terraform_originated += 1;
                signals.refresh_state = true;
                self.terraform_change(ev, stats);
                return;
            }
            None => {}
        }
        let mapping = match self.catalog.lookup(ev) {
            Lookup::Found(m) => m,
            Lookup::Operational => {
                stats.operational += 1;
                return;
            }
            Lookup::Unknown => {
                stats.unsupported += 1;
                let key = format!("{}:{}", ev.service, ev.action);
                super::stats::bump(&mut stats.unsupported_by_name, &key);
                return;
            }
            Lookup::Ambiguous(types) => {
                let key = format!("{}:{} [{}]", ev.service, ev.action, types.join("|"));
                super::stats::bump(&mut stats.ambiguous, &key);
                return;
            }
        };
        let touches = map_event(ev, mapping);
        if touches.is_empty() {
            let key = format!("{}:{}", ev.service, ev.action);
            super::stats::bump(&mut stats.no_resource, &key);
            return;
        }
        match self.seen_in_store(ev, stats) {
            StoreSeen::Event => {
                stats.duplicates += 1;
                return;
            }
            StoreSeen::Operation => {
                stats.operation_continuations += 1;
                return;
            }
            StoreSeen::No => {}
        }
        stats.mapped += 1;
        super::stats::bump(&mut stats.mapped_by_file, &mapping.file);
        let mut alerts = Vec::new();
        let mut ops = Vec::new();
        let mut reverts = Vec::new();
        for touch in &touches {
            let revert = self.revert_selector(touch);
            match detect(&self.state, touch) {
                Detection::InSync => {
                    stats.in_sync += 1;
                    reverts.extend(revert);
                }
                Detection::Drift(drift) => {
                    if let Some(mut sel) = revert
                        && drift.kind == crate::alert::AlertKind::AttributeDrift
                    {
                        // What still differs stays open; the rest of what the event set is
                        // back in line.
                        sel.keep = drift.diffs.iter().map(|d| d.path.clone()).collect();
                        reverts.push(sel);
                    }
                    // The catalog may lower an event's default (a stopped instance is `low`).
                    let default_severity = drift.change.severity.unwrap_or(self.default_severity);
                    let mut alert = assemble(ev, &drift, default_severity);
                    if self.ignore_changes.suppress(&mut alert, &mut stats.ignored) {
                        continue;
                    }
                    let tags = drift.resource.and_then(|r| {
                        r.attributes
                            .get("tags")
                            .or_else(|| r.attributes.get("labels"))
                            .and_then(serde_json::Value::as_object)
                    });
                    let ctx = EvalContext {
                        default_severity,
                        today: chrono::Utc::now().date_naive(),
                        tags,
                    };
                    match self.rules.apply(&mut alert, &ctx) {
                        Verdict::Keep => {}
                        Verdict::Skipped { rule } => {
                            super::stats::bump(&mut stats.filtered, &rule);
                            continue;
                        }
                        Verdict::Ignored { reason, .. } => {
                            super::stats::bump(&mut stats.ignored, &reason);
                            continue;
                        }
                    }
                    self.enricher.enrich(
                        &mut alert,
                        &DriftContext {
                            event: ev,
                            resource: drift.resource,
                            change: drift.change.kind,
                            pending: &self.staged_history,
                        },
                    );
                    super::assemble::mask(&mut alert, &drift);
                    let scope = drift.resource.map_or("", |r| &*r.state_file);
                    let occurrences = crate::drift::occurrences(&alert, scope);
                    crate::drift::stamp(&mut alert, &occurrences);
                    if self.store.is_some() {
                        self.staged_history.push(HistoryEntry::from_alert(&alert));
                        self.note_drifted(&alert);
                        ops.extend(occurrences.into_iter().map(|o| DriftOp::Occur(Box::new(o))));
                    }
                    alerts.push(alert);
                }
            }
        }
        for sel in reverts {
            if self.may_have_drifts(sel.address.as_deref(), &sel.rtype, &sel.resource_id) {
                ops.push(DriftOp::Resolve(Resolution {
                    target: crate::drift::Target::Resource(sel),
                    reason: Reason::Reverted,
                    who: event_actor(ev),
                    at: ev.time.unwrap_or_else(chrono::Utc::now),
                    note: Some(format!("{} {}", ev.service, ev.action)),
                }));
            }
        }
        if alerts.is_empty() && ops.is_empty() {
            return;
        }
        let outbox: Vec<OutboxItem> = match (&self.store, &self.router) {
            (Some(_), Some(r)) => alerts.iter().flat_map(|a| r.route(a)).collect(),
            _ => Vec::new(),
        };
        self.staged.push(Staged {
            event_id: ev.id.clone(),
            operation: ev.operation.as_ref().map(|op| op.id.clone()),
            time: ev.time,
            alerts,
            outbox,
            drifts: ops,
        });
    }
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
