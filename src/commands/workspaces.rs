//! `tfdrift workspaces`: the reconcile status board from the store — per workspace the last
//! run, its duration, its result (in sync / N drifted / error with its first lines) and the
//! open drifts of its resources.

use std::process::ExitCode;

use tfdrift::store::DriftFilter;
use tfdrift::store::workspace_runs::{RunResult, WorkspaceRun};

use crate::cli::WorkspacesArgs;

/// Open drifts among those a run's report names.
fn open_drifts(run: &WorkspaceRun, open: &[tfdrift::drift::Drift]) -> u64 {
    tfdrift::reconcile::board::open_drifts(run, open)
}

pub fn run(args: &WorkspacesArgs) -> anyhow::Result<ExitCode> {
    let Some(name) = &args.profile.profile else {
        anyhow::bail!("name a profile: tfdrift workspaces --profile NAME");
    };
    let profile = tfdrift::config::load_profile(args.profile.config.as_deref(), name)?;
    let store = super::open_journal(&profile.store.clone().unwrap_or_default())?;
    let runs = store.latest_workspace_runs()?;
    if args.metrics {
        print!("{}", tfdrift::reconcile::metrics::metrics_text(&runs));
        return Ok(ExitCode::SUCCESS);
    }
    let open = store.drifts(&DriftFilter {
        unresolved_only: true,
        ..DriftFilter::default()
    })?;
    let configured: Vec<String> = profile
        .workspaces
        .iter()
        .map(|w| w.label("default"))
        .collect();
    if args.json {
        for r in &runs {
            let mut v = serde_json::to_value(r)?;
            if let Some(m) = v.as_object_mut() {
                m.remove("report");
                m.insert("open_drifts".into(), open_drifts(r, &open).into());
            }
            println!("{v}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<20} {:>9} {:<24} {:>5}",
        "WORKSPACE", "LAST RUN", "DURATION", "RESULT", "OPEN"
    );
    for r in &runs {
        let result = match r.result {
            RunResult::InSync => "in sync".to_string(),
            RunResult::Drifted => format!("{} drifted ({} no event)", r.drifted, r.unattributed),
            RunResult::Error => "error".to_string(),
        };
        println!(
            "{:<28} {:<20} {:>8}s {:<24} {:>5}",
            r.workspace,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            tfdrift::reconcile::metrics::seconds(r.duration_ms),
            result,
            open_drifts(r, &open)
        );
        if let Some(e) = &r.error {
            for l in e.lines().take(3) {
                println!("    {l}");
            }
        }
    }
    for c in configured {
        if !runs
            .iter()
            .any(|r| r.workspace == c || r.workspace.starts_with(&format!("{c}#")))
        {
            println!("{c:<28} (never reconciled)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
