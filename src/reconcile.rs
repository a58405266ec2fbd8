//! Terraform in the loop: a scheduled (or on-demand) `terraform plan -refresh-only` per
//! configured workspace finds *what* is out of line — including what no audit log showed —
//! and tfdrift's event history says *who, when, how*.
//!
//! A reconcile never applies and never writes state (`-refresh-only -lock=false`, the plan
//! file goes to a temporary directory). Its drifts are recorded as the events' are (same drift
//! key, alerts with event service `reconcile`), each joined with the event history
//! ([`attribution`]) or marked **no event seen**; open drifts the plan finds in sync are
//! resolved `reconciled`; every run is kept for the status board (`tfdrift workspaces`).
//! `lifecycle.ignore_changes` of the configuration ([`ignore`]) suppresses drift here and in
//! the event pipeline. [`explain`] reads a saved plan and says which of its changes would revert
//! an open drift.

pub mod attribution;
pub mod board;
pub mod exec;
pub mod explain;
pub mod ignore;
pub mod metrics;
pub mod plan;
pub mod record;
pub mod schedule;
pub mod settings;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use ignore::IgnoreSet;
pub use settings::{ReconcileSettings, Target, WorkspaceSpec};

use crate::alert::Severity;
use crate::catalog::Catalog;
use crate::rules::RuleSet;
use crate::state::StateIndex;
use crate::store::Store;
use crate::store::workspace_runs::RunResult;

/// The event name reconcile alerts carry.
pub const EVENT_NAME: &str = "terraform plan -refresh-only";

/// The event service (the alert's source) of reconcile alerts.
pub const SOURCE: &str = "reconcile";

/// Who changed a reconciled attribute, as the event history tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// An event explains the change.
    pub seen: bool,
    /// The person (or ARN / email) behind it.
    pub actor: Option<String>,
    /// Console, CLI, SDK …
    pub via: Option<String>,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// The event's alert.
    pub alert_id: Option<String>,
    /// The event name (`AuthorizeSecurityGroupIngress`).
    pub event: Option<String>,
}

impl Attribution {
    /// `changed by alice via console at 2026-12-01 02:14 (alert tfd-…)`, or `no event seen`.
    #[must_use]
    pub fn line(&self) -> String {
        if !self.seen {
            return "no event seen".into();
        }
        let mut s = format!(
            "changed by {}",
            self.actor.as_deref().unwrap_or("(unknown)")
        );
        if let Some(v) = &self.via {
            let _ = write!(s, " via {v}");
        }
        if let Some(at) = self.at {
            let _ = write!(s, " at {}", at.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        if let Some(a) = &self.alert_id {
            let _ = write!(s, " (alert {a})");
        }
        s
    }
}

/// One drifted attribute (or deleted resource) a reconcile found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconciledDrift {
    /// Terraform address.
    pub address: String,
    /// Resource type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Cloud id.
    pub resource_id: String,
    /// Attribute path; empty for a deleted resource.
    pub attribute: String,
    /// `attribute_drift` or `managed_resource_deleted`.
    pub kind: String,
    /// The value Terraform state holds.
    pub state: Value,
    /// The value the cloud has now.
    pub observed: Value,
    /// The drift's id (same key as the events').
    pub drift_id: String,
    /// Severity (rules, or the profile default).
    pub severity: Severity,
    /// The service whose events would have shown it (catalog file, or the type's prefix).
    pub service: String,
    /// Who, when, via what — or "no event seen".
    pub attribution: Attribution,
    /// The alert recorded for it.
    pub alert_id: Option<String>,
}

/// An attribute whose drift `lifecycle.ignore_changes` suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoredDrift {
    /// Address.
    pub address: String,
    /// Attribute.
    pub attribute: String,
}

/// What one workspace's reconcile found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkspaceReport {
    /// Board label.
    pub workspace: String,
    /// Root module directory.
    pub dir: String,
    /// When the plan started.
    pub started_at: DateTime<Utc>,
    /// How long it took (ms).
    pub duration_ms: u64,
    /// Outcome.
    pub result: RunResult,
    /// The first lines of the error.
    pub error: Option<String>,
    /// Drifts found.
    pub drifts: Vec<ReconciledDrift>,
    /// Suppressed by `ignore_changes` (`ignored_by_config`).
    pub ignored_by_config: Vec<IgnoredDrift>,
    /// Refresh noise left out (computed attributes, outside `relevant_attributes`).
    pub noise: usize,
    /// Open drifts found in sync and resolved `reconciled`.
    pub resolved: Vec<String>,
    /// "No event seen" per service.
    pub unattributed_by_service: BTreeMap<String, u64>,
    /// Things worth knowing that did not stop the run.
    pub warnings: Vec<String>,
}

impl WorkspaceReport {
    /// A report for a run that failed before Terraform said anything useful.
    #[must_use]
    pub fn error(
        target: &Target,
        started_at: DateTime<Utc>,
        duration_ms: u64,
        error: String,
    ) -> Self {
        Self {
            workspace: target.name.clone(),
            dir: target.dir.display().to_string(),
            started_at,
            duration_ms,
            result: RunResult::Error,
            error: Some(error),
            drifts: Vec::new(),
            ignored_by_config: Vec::new(),
            noise: 0,
            resolved: Vec::new(),
            unattributed_by_service: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// How many drifts no event explains.
    #[must_use]
    pub fn unattributed(&self) -> u64 {
        self.unattributed_by_service.values().sum()
    }
}

/// Everything a reconcile needs besides the workspaces.
#[derive(Clone)]
pub struct Context {
    /// Timeout, concurrency, terraform binary.
    pub settings: ReconcileSettings,
    /// The store drifts, alerts and runs go to (`None`: report only).
    pub store: Option<Arc<dyn Store>>,
    /// The profile's states (the drift key's scope comes from them).
    pub state: Arc<StateIndex>,
    /// Rules (severity, ignores).
    pub rules: Arc<RuleSet>,
    /// Severity when no rule claims a drift.
    pub default_severity: Severity,
    /// `lifecycle.ignore_changes` of the workspaces.
    pub ignore: Arc<IgnoreSet>,
    /// Type → service, from the catalog.
    pub services: Arc<BTreeMap<String, String>>,
    /// The notification routing of the profile (`None`: no channels): a reconciled drift's
    /// alert is routed as an event's is and its outbox items are written with it, so the drift's
    /// first notification (and later its `reconciled` resolution) goes out through the outbox.
    pub router: Option<Arc<dyn crate::pipeline::engine::OutboxRouter>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("reconcile::Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Type → the catalog file (service) whose events produce it.
#[must_use]
pub fn services(catalog: &Catalog) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (_, file, t) in catalog.targets() {
        let service = std::path::Path::new(file)
            .file_stem()
            .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
        out.entry(t.rtype.clone()).or_insert(service);
    }
    out
}

/// The service a type's events come from: the catalog's, else `rtype's prefix (not in the
/// catalog)` — a catalog gap.
#[must_use]
pub fn service_of(services: &BTreeMap<String, String>, rtype: &str) -> String {
    services.get(rtype).cloned().unwrap_or_else(|| {
        let short = rtype.split('_').nth(1).unwrap_or(rtype);
        format!("{short} (not in the catalog)")
    })
}

/// `lifecycle.ignore_changes` of every configured workspace.
#[must_use]
pub fn ignore_set(specs: &[WorkspaceSpec]) -> IgnoreSet {
    let mut set = IgnoreSet::default();
    for s in specs {
        set.add_root(std::path::Path::new(&s.dir));
    }
    for w in &set.warnings {
        tracing::warn!(warning = %w, "lifecycle.ignore_changes");
    }
    set
}

/// The drift key scope of an address: the state file that holds it (as the events' drifts
/// have it), else `reconcile:{workspace}`.
#[must_use]
pub fn scope_of(
    state: &StateIndex,
    address: &str,
    id: &str,
    rtype: &str,
    workspace: &str,
) -> String {
    if let Some(r) = state.find(rtype, id).filter(|r| r.address == address) {
        return r.state_file.to_string();
    }
    state
        .resources()
        .iter()
        .find(|r| r.address == address && (id.is_empty() || r.id.as_deref() == Some(id)))
        .or_else(|| state.by_address(address))
        .map_or_else(
            || format!("{SOURCE}:{workspace}"),
            |r| r.state_file.to_string(),
        )
}

/// Runs every target (at most `settings.concurrency` at once), records each into the store, and
/// returns the reports in target order.
pub async fn run_all(ctx: &Context, targets: Vec<Target>) -> Vec<WorkspaceReport> {
    let sem = Arc::new(tokio::sync::Semaphore::new(ctx.settings.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in targets.into_iter().enumerate() {
        let ctx = ctx.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, run_one(&ctx, &t).await)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(x) => out.push(x),
            Err(e) => tracing::error!(error = %e, "A reconcile task failed"),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Plans one workspace, analyses and records the result.
pub async fn run_one(ctx: &Context, target: &Target) -> WorkspaceReport {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let outcome =
        tokio::time::timeout(ctx.settings.timeout, exec::plan(&ctx.settings, target)).await;
    let elapsed = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let planned = match outcome {
        Err(_) => Err(format!(
            "terraform plan did not finish within {}s (reconcile.timeout); it was stopped",
            ctx.settings.timeout.as_secs()
        )),
        Ok(r) => r,
    };
    let report = match planned {
        Err(e) => WorkspaceReport::error(target, started, elapsed, e),
        Ok(p) => {
            let ctx2 = ctx.clone();
            let target2 = target.clone();
            match tokio::task::spawn_blocking(move || {
                record::analyse_and_record(&ctx2, &target2, &p, started, elapsed)
            })
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    WorkspaceReport::error(target, started, elapsed, format!("internal error: {e}"))
                }
            }
        }
    };
    if let Some(store) = &ctx.store {
        let store = store.clone();
        let row = record::run_row(&report);
        let res = tokio::task::spawn_blocking(move || store.record_workspace_run(&row)).await;
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, workspace = %report.workspace, "Cannot record the reconcile run");
            }
            Err(e) => tracing::error!(error = %e, "Recording the reconcile run failed"),
        }
    }
    tracing::info!(
        workspace = %report.workspace,
        result = report.result.as_str(),
        drifted = report.drifts.len(),
        unattributed = report.unattributed(),
        ignored = report.ignored_by_config.len(),
        resolved = report.resolved.len(),
        duration_ms = report.duration_ms,
        "Reconciled"
    );
    report
}
