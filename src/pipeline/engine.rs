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
use crate::event::CloudEvent;
use crate::map::map_event;
use crate::rules::{EvalContext, RuleSet, Verdict};
use crate::state::StateIndex;

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
}

/// What the engine tells its driver besides alerts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Signals {
    /// A Terraform-originated change touched state-managed infrastructure: refresh state now.
    pub refresh_state: bool,
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
        Ok(Engine {
            catalog,
            state,
            rules: Arc::new(RuleSet::empty()),
            default_severity: opts.default_severity,
            terraform_principals: b.build()?,
            seen: SeenSet::new(DEDUPE_WINDOW),
            operations: SeenSet::new(DEDUPE_WINDOW),
        })
    }

    /// Swaps in a refreshed state index (the old one stays valid for whoever holds it).
    pub fn set_state(&mut self, state: Arc<StateIndex>) {
        self.state = state;
    }

    /// Swaps in a rule set (hot reload: the next event uses it).
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules = rules;
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
                    stats.alerts += 1;
                    *stats
                        .alerts_by_kind
                        .entry(alert.kind.as_str().to_string())
                        .or_default() += 1;
                    alerts.push(alert);
                }
            }
        }
        alerts
    }
}
