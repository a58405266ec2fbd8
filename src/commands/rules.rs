//! `tfdrift rules validate` and `tfdrift rules test`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tfdrift::alert::Alert;
use tfdrift::catalog::Catalog;
use tfdrift::normalize::{Normalized, normalize_str};
use tfdrift::pipeline::{Engine, EngineOptions, Signals, Stats};
use tfdrift::rules::{run_tests, validate_paths};
use tfdrift::state::StateIndex;

use crate::cli::RulesCommand;

/// Turns a rule test's raw event fixture into alerts with the catalog (no state: every change
/// is unmanaged unless the fixture says otherwise), as the pipeline would.
pub fn event_converter(catalog: Arc<Catalog>) -> impl Fn(&serde_json::Value) -> Vec<Alert> {
    move |raw: &serde_json::Value| -> Vec<Alert> {
        let Ok(mut engine) = Engine::new(
            catalog.clone(),
            Arc::new(StateIndex::default()),
            &EngineOptions::default(),
        ) else {
            return Vec::new();
        };
        let mut units = Vec::new();
        normalize_str(&raw.to_string(), &mut units);
        let mut stats = Stats::default();
        let mut signals = Signals::default();
        units
            .into_iter()
            .filter_map(|u| match u {
                Normalized::Event(ev) => Some(ev),
                _ => None,
            })
            .flat_map(|ev| engine.process(&ev, &mut stats, &mut signals))
            .collect()
    }
}

/// Rule paths given, else `./rules` when it exists, else the embedded packs (extracted to a
/// temporary directory so diagnostics still name real files).
fn resolve(paths: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, Option<tempfile::TempDir>)> {
    if !paths.is_empty() {
        return Ok((paths.to_vec(), None));
    }
    let local = PathBuf::from("rules");
    if local.is_dir() {
        return Ok((vec![local], None));
    }
    let dir = tempfile::tempdir()?;
    for (name, bytes) in tfdrift::assets::dir("rules") {
        let path = dir.path().join(name.trim_start_matches("rules/"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    eprintln!("(no ./rules directory: checking the embedded packs)");
    Ok((vec![dir.path().join("")], Some(dir)))
}

pub fn run(cmd: &RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Validate { paths, profile } => {
            let (paths, _keep) = resolve(paths)?;
            let channels: Vec<String> = match &profile.profile {
                Some(name) => tfdrift::config::load_profile(profile.config.as_deref(), name)?
                    .notify
                    .channels
                    .keys()
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let diags = validate_paths(&paths, &channels);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "{} error(s), {} warning(s) in {}",
                errors,
                diags.len() - errors,
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(if errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        RulesCommand::Test { paths } => {
            let (paths, _keep) = resolve(paths)?;
            let catalog = Arc::new(Catalog::embedded()?);
            let convert = event_converter(catalog);
            let report = run_tests(&paths, Some(&convert), chrono::Local::now().date_naive());
            println!("{report}");
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
