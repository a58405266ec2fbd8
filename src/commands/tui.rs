//! `tfdrift tui` with the terminal UI: logs go to the in-app log pane (never to the terminal the
//! UI owns), the pipeline runs in background tasks, the UI streams from its handle.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::config::EMBEDDED_PREFIX;
use tfdrift::pipeline::{PipelineConfig, spawn};
use tfdrift::tui::editor::RuleCompiler;
use tfdrift::tui::logs::LogLayer;
use tfdrift::tui::{AlertConverter, Meta, RunOptions};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::cli::TuiArgs;

fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|p| p.join("tfdrift"))
}

/// The editor's file: `--rules-file`, else the profile's first rule path on disk (a directory
/// gets `local.yaml` inside), else `~/.config/tfdrift/rules/local.yaml`.
fn rules_file(args: &TuiArgs, rules: &[String]) -> PathBuf {
    if let Some(p) = &args.rules_file {
        return p.clone();
    }
    if let Some(r) = rules.iter().find(|r| !r.starts_with(EMBEDDED_PREFIX)) {
        let p = PathBuf::from(r);
        return if p.is_dir() { p.join("local.yaml") } else { p };
    }
    config_dir().map_or_else(
        || PathBuf::from("tfdrift-rules.yaml"),
        |d| d.join("rules/local.yaml"),
    )
}

fn user_file(env: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| config_dir().map(|d| d.join(name)))
}

pub fn run(args: &TuiArgs) -> anyhow::Result<ExitCode> {
    let Some(name) = &args.profile.profile else {
        anyhow::bail!(
            "name a profile: tfdrift tui --profile demo (the bundled demo) or one from your config"
        );
    };
    let (layer, log_rx, _dropped) = LogLayer::new();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TFDRIFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();

    let setup = super::setup(&args.profile, &[], &[])?;
    super::require_sources(name, &setup.profile)?;
    let replay = &setup.profile.replay;
    let sources = setup
        .profile
        .inputs
        .iter()
        .map(|i| {
            let short = i.strip_prefix(EMBEDDED_PREFIX).unwrap_or(i);
            let short = short
                .rsplit('/')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("/");
            if replay.looping && !args.once {
                format!("replay {short} (loop {} ms)", replay.interval_ms)
            } else {
                format!("replay {short}")
            }
        })
        .collect();
    let mut opts = RunOptions {
        meta: Meta {
            profile: name.clone(),
            sources,
            state_resources: setup.state.len(),
            state: Some(setup.state.clone()),
            store: None,
            rules_watched: false,
            state_backends: {
                let mut b: Vec<String> = setup
                    .profile
                    .state
                    .iter()
                    .map(|s| {
                        if s.starts_with("s3://") {
                            "s3"
                        } else if s.starts_with("gs://") {
                            "gcs"
                        } else {
                            "local"
                        }
                        .to_string()
                    })
                    .collect();
                b.sort();
                b.dedup();
                b
            },
            notify: None,
            live_sources: setup
                .profile
                .sources
                .iter()
                .map(tfdrift::collect::SourceSpec::name)
                .collect(),
            readonly: args.readonly,
        },
        rules_file: rules_file(args, &setup.profile.rules),
        keymap_file: user_file("TFDRIFT_KEYMAP", "keymap.toml"),
        theme_file: user_file("TFDRIFT_THEME", "theme.toml"),
        validator: Box::new(RuleCompiler),
        store: None,
        event_converter: Some(AlertConverter(std::sync::Arc::new(
            super::rules::event_converter(setup.catalog.clone()),
        ))),
    };
    let mut replay = setup.profile.replay.clone();
    if let Some(ms) = args.replay_interval_ms {
        replay.interval_ms = ms;
    }
    let settings = setup.profile.store.clone().unwrap_or_default();
    let store = super::open_store(&settings)?;
    opts.store = Some(store.clone());
    opts.meta.store = Some(settings.describe());
    // Notifications run in the monitor too: the same router (at record time) and outbox worker
    // as the headless daemon.
    let notify = tfdrift::notify::NotifySetup::new(&setup.profile.notify, &setup.rules)
        .map_err(anyhow::Error::msg)?;
    let worker_store = store.clone();
    let cfg = PipelineConfig {
        rules: setup.rules.clone(),
        rule_paths: setup.rule_paths.clone(),
        engine: setup.engine.clone(),
        inputs: setup.profile.inputs.clone(),
        replay,
        once: args.once,
        store: Some(store),
        retention: Some(settings.retention()),
        router: notify.outbox_router(),
        sources: setup.profile.sources.clone(),
        remote_state: setup.profile.remote_state(),
        aws: None,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let handle = spawn(setup.catalog, setup.state, &cfg)?;
        let notifier = notify.start(worker_store);
        let mut opts = opts;
        opts.meta.notify = notifier.as_ref().map(|n| n.stats.clone());
        let result = tfdrift::tui::run(opts, handle, log_rx).await;
        if let Some(n) = &notifier {
            // Give queued notifications a bounded chance to go out after the UI closed.
            n.drain(std::time::Duration::from_secs(5)).await;
        }
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
