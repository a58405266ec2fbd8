//! `tfdrift reconcile`: plans the profile's workspaces refresh-only, prints what drifted and who
//! changed it (or "no event seen"), records drifts, resolutions and the run in the store.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tfdrift::reconcile::{Context, WorkspaceReport, run_all, schedule};
use tfdrift::store::Store;
use tfdrift::store::workspace_runs::RunResult;

use crate::cli::ReconcileArgs;

/// The reconcile context of a loaded profile.
pub fn context(
    setup: &super::Setup,
    store: Option<Arc<dyn Store>>,
    router: Option<Arc<dyn tfdrift::pipeline::engine::OutboxRouter>>,
) -> Context {
    Context {
        router,
        settings: setup.profile.reconcile.clone(),
        store,
        state: setup.state.clone(),
        rules: setup.rules.clone(),
        default_severity: setup.engine.default_severity,
        ignore: setup.engine.ignore_changes.clone(),
        services: Arc::new(tfdrift::reconcile::services(&setup.catalog)),
    }
}

/// The daemon's reconcile schedule (`reconcile.every`), prepared before the runtime starts.
pub struct Schedule {
    ctx: Context,
    specs: Vec<tfdrift::reconcile::WorkspaceSpec>,
}

impl Schedule {
    /// The schedule of a loaded profile.
    pub fn new(
        setup: &super::Setup,
        store: Arc<dyn Store>,
        router: Option<Arc<dyn tfdrift::pipeline::engine::OutboxRouter>>,
    ) -> Self {
        Self {
            ctx: context(setup, Some(store), router),
            specs: setup.profile.workspaces.clone(),
        }
    }

    /// Starts it (inside the runtime), if the profile has `workspaces` and `reconcile.every`.
    pub fn start(self, cancel: tokio_util::sync::CancellationToken) {
        let _ = schedule::spawn(self.ctx, self.specs, cancel);
    }
}

pub fn run(args: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let Some(name) = &args.profile.profile else {
        anyhow::bail!(
            "name a profile: tfdrift reconcile --profile NAME (its `workspaces:` are planned)"
        );
    };
    let setup = super::setup(&args.profile, &[], &[])?;
    if setup.profile.workspaces.is_empty() {
        anyhow::bail!(
            "profile '{name}' has no workspaces: add `workspaces: [{{dir: ./infra/network}}]` (Terraform root modules) to it"
        );
    }
    let store = super::open_journal(&setup.profile.store.clone().unwrap_or_default())?;
    let store: Arc<dyn Store> = store;
    // Reconciled drifts notify as the events' do: routed into the outbox with the drifts, and
    // delivered here (a daemon on the same store would deliver what is left).
    let notify = tfdrift::notify::NotifySetup::new(&setup.profile.notify, &setup.rules)
        .map_err(anyhow::Error::msg)?;
    let ctx = context(&setup, Some(store.clone()), notify.outbox_router());
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let reports = rt.block_on(async {
        let notifier = notify.start(store.clone());
        let (mut targets, mut errors) = schedule::targets(&ctx, &setup.profile.workspaces).await;
        if let Some(w) = &args.workspace {
            targets.retain(|t| t.name == *w || t.workspace == *w || t.dir.as_os_str() == w.as_str());
            errors.retain(|e| e.workspace == *w);
            if targets.is_empty() && errors.is_empty() {
                anyhow::bail!(
                    "no workspace '{w}' in profile '{name}' (give a board label, a dir or a workspace name; `tfdrift workspaces --profile {name}` lists them)"
                );
            }
        }
        if let Some(store) = &ctx.store {
            for e in &errors {
                store.record_workspace_run(&tfdrift::reconcile::record::run_row(e))?;
            }
        }
        let mut reports = errors;
        reports.extend(run_all(&ctx, targets).await);
        if let Some(n) = &notifier
            && !n.drain(super::headless::DRAIN_LIMIT).await
        {
            eprintln!(
                "warning: some notifications were not delivered within {}s; they stay in the outbox (`tfdrift serve` or the next reconcile delivers them)",
                super::headless::DRAIN_LIMIT.as_secs()
            );
        }
        anyhow::Ok(reports)
    })?;
    for r in &reports {
        if args.json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            print_report(r);
        }
    }
    if !args.json {
        let mut by_service = std::collections::BTreeMap::new();
        for r in &reports {
            for (s, n) in &r.unattributed_by_service {
                *by_service.entry(s.clone()).or_insert(0u64) += n;
            }
        }
        if !by_service.is_empty() {
            let parts: Vec<String> = by_service
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            println!("no event seen, by service: {}", parts.join(", "));
        }
    }
    let code = if reports.iter().any(|r| r.result == RunResult::Error) {
        3
    } else if reports.iter().any(|r| r.result == RunResult::Drifted) {
        2
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

fn print_report(r: &WorkspaceReport) {
    let secs = tfdrift::reconcile::metrics::seconds(r.duration_ms);
    match r.result {
        RunResult::Error => {
            println!("{}: ERROR after {secs}s", r.workspace);
            for l in r.error.as_deref().unwrap_or_default().lines() {
                println!("  {l}");
            }
        }
        RunResult::InSync => println!("{}: in sync ({secs}s)", r.workspace),
        RunResult::Drifted => println!(
            "{}: {} drifted, {} with no event seen ({secs}s)",
            r.workspace,
            r.drifts.len(),
            r.unattributed()
        ),
    }
    for d in &r.drifts {
        let what = if d.attribute.is_empty() {
            "(deleted)"
        } else {
            d.attribute.as_str()
        };
        let service = if d.attribution.seen {
            String::new()
        } else {
            format!(" [{}]", d.service)
        };
        println!(
            "  {} {what} ({}): {}{service}",
            d.address,
            d.severity.as_str(),
            d.attribution.line()
        );
    }
    for i in &r.ignored_by_config {
        println!("  ignored_by_config: {} {}", i.address, i.attribute);
    }
    for id in &r.resolved {
        println!("  resolved (reconciled): {id}");
    }
    if r.noise > 0 {
        println!("  {} refresh-noise attribute(s) left out", r.noise);
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
}
