//! The daemon's reconcile schedule (`reconcile: {every: 6h}`): every workspace at start-up and
//! then every period, at most `concurrency` at once, until the daemon stops. Results go to the
//! store (drifts, alerts, the board's runs); a run never overlaps the previous one.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::settings::{Target, WorkspaceSelect, WorkspaceSpec};
use super::{Context, WorkspaceReport, exec, run_all};

/// Expands the profile's entries into targets (`workspace: "*"` asks terraform); an entry whose
/// workspaces cannot be listed becomes an error report.
pub async fn targets(
    ctx: &Context,
    specs: &[WorkspaceSpec],
) -> (Vec<Target>, Vec<WorkspaceReport>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for s in specs {
        let listed = if s.workspace == WorkspaceSelect::All {
            match exec::workspaces(&ctx.settings, std::path::Path::new(&s.dir)).await {
                Ok(l) => l,
                Err(e) => {
                    let t = Target {
                        name: s.label("*"),
                        dir: s.dir.clone().into(),
                        workspace: "*".into(),
                        var_files: Vec::new(),
                        env: s.env.clone(),
                    };
                    errors.push(WorkspaceReport::error(
                        &t,
                        chrono::Utc::now(),
                        0,
                        format!("terraform workspace list failed: {e}"),
                    ));
                    continue;
                }
            }
        } else {
            Vec::new()
        };
        out.extend(s.targets(&listed));
    }
    (out, errors)
}

/// Starts the schedule when the profile has workspaces and `reconcile.every`; `None` otherwise.
#[must_use]
pub fn spawn(
    ctx: Context,
    specs: Vec<WorkspaceSpec>,
    cancel: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = ctx.settings.every?;
    if specs.is_empty() {
        tracing::warn!(
            "reconcile.every is set but the profile has no workspaces: nothing to reconcile"
        );
        return None;
    }
    let every = every.max(Duration::from_secs(1));
    tracing::info!(
        every_s = every.as_secs(),
        workspaces = specs.len(),
        "Reconcile schedule started"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let round = async {
                let (t, errors) = targets(&ctx, &specs).await;
                if let Some(store) = &ctx.store {
                    for e in &errors {
                        let _ = store.record_workspace_run(&super::record::run_row(e));
                    }
                }
                run_all(&ctx, t).await
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = round => {}
            }
        }
        tracing::info!("Reconcile schedule stopped");
    }))
}
