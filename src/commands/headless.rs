//! `tfdrift tui --no-ui`: the pipeline headless. Alerts as JSON lines on stdout, logs and the
//! closing summary on stderr; SIGINT / SIGTERM stop the sources and drain what is queued.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::pipeline::{PipelineConfig, spawn};

use crate::cli::TuiArgs;

pub fn run(args: &TuiArgs) -> anyhow::Result<ExitCode> {
    let Some(name) = &args.profile.profile else {
        anyhow::bail!(
            "name a profile: tfdrift tui --profile demo (the bundled demo) or one from your config"
        );
    };
    if !args.no_ui {
        eprintln!(
            "note: this build has no terminal UI (cargo feature `tui` off); running headless (as with --no-ui). \
             Profile '{name}'."
        );
    }
    let setup = super::setup(&args.profile, &[], &[])?;
    if setup.profile.inputs.is_empty() && setup.profile.sources.is_empty() {
        anyhow::bail!(
            "profile '{name}' has no event sources: add `inputs:` (recorded logs) or `sources:` \
             (`{{type: sqs, queue_url, region}}`, `{{type: falco_http, listen}}`) to it"
        );
    }
    let mut replay = setup.profile.replay.clone();
    if let Some(ms) = args.replay_interval_ms {
        replay.interval_ms = ms;
    }
    let settings = setup.profile.store.clone().unwrap_or_default();
    let store = super::open_store(&settings)?;
    let cfg = PipelineConfig {
        rules: setup.rules.clone(),
        rule_paths: setup.rule_paths.clone(),
        engine: setup.engine.clone(),
        inputs: setup.profile.inputs.clone(),
        replay,
        once: args.once,
        store: Some(store),
        retention: Some(settings.retention()),
        sources: setup.profile.sources.clone(),
        remote_state: setup.profile.remote_state(),
        aws: None,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let mut handle = spawn(setup.catalog, setup.state, &cfg)?;
        let cancel = handle.cancel_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Signal received; draining");
            cancel.cancel();
        });
        let stdout = std::io::stdout();
        while let Some(alert) = handle.alerts.recv().await {
            let mut out = stdout.lock();
            writeln!(out, "{}", alert.to_json_line()).context("writing alerts to stdout")?;
            out.flush().context("writing alerts to stdout")?;
        }
        handle.join().await;
        let stats = handle.stats.borrow().clone();
        eprintln!("{}", stats.summary());
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
