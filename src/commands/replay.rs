//! `tfdrift replay`: recorded logs through the pipeline, alerts as JSON lines on stdout.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::pipeline::{Engine, Stats, replay::replay_paths};

use crate::cli::ReplayArgs;

pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let setup = super::setup(&args.profile, &args.state, &args.rules)?;
    let mut engine = Engine::new(setup.catalog, setup.state, &setup.engine)
        .context("invalid terraform_principals glob in the profile")?;
    engine.set_rules(setup.rules);
    if let Some(path) = &args.store {
        // Opt-in: a replay records into a store only when asked, so re-running a replay never
        // meets its own earlier events as duplicates by surprise.
        let settings = tfdrift::store::StoreSettings {
            path: Some(path.display().to_string()),
            retention_days: None,
        };
        engine = engine.with_store(super::open_store(&settings)?);
    }
    let mut stats = Stats::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_error = None;
    replay_paths(&mut engine, &args.inputs, &mut stats, &mut |alert| {
        if write_error.is_none()
            && let Err(e) = writeln!(out, "{}", alert.to_json_line())
        {
            write_error = Some(e);
        }
    })?;
    out.flush().context("writing alerts to stdout")?;
    if let Some(e) = write_error {
        return Err(e).context("writing alerts to stdout");
    }
    if let Some(path) = &args.stats_json {
        let json = serde_json::to_string_pretty(&stats)?;
        std::fs::write(path, json)
            .with_context(|| format!("writing --stats-json {}", path.display()))?;
    }
    eprintln!("{}", stats.summary());
    Ok(if args.fail_on_drift && stats.alerts > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
