//! `tfdrift tui` with the terminal UI: logs go to the in-app log pane (never to the terminal the
//! UI owns). With `--connect URL` or a profile's `daemon:` the monitor attaches to a team-mode
//! daemon (no sources, store or notifier here); otherwise the pipeline runs in background
//! tasks. Either way the UI talks to one backend interface.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::api::client::ClientOptions;
use tfdrift::config::EMBEDDED_PREFIX;
use tfdrift::pipeline::{PipelineConfig, spawn};
use tfdrift::tui::backend::{DaemonLink, host_port, local::Local, remote::Remote};
use tfdrift::tui::editor::RuleCompiler;
use tfdrift::tui::logs::{LogLayer, LogLine};
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

/// The daemon to attach to: `--connect URL` (token from `--token-file` or `$TFDRIFT_TOKEN`),
/// else the profile's `daemon:`; `None`: run the pipeline here. Also the profile's rule paths
/// (for the editor's file).
fn daemon_options(args: &TuiArgs) -> anyhow::Result<Option<(ClientOptions, Vec<String>)>> {
    let c = &args.connect;
    let profile = match &args.profile.profile {
        Some(name) if c.connect.is_none() => Some(tfdrift::config::load_profile(
            args.profile.config.as_deref(),
            name,
        )?),
        _ => None,
    };
    if let Some(url) = &c.connect {
        let opts = ClientOptions::new(url, c.token_file.as_deref(), None, c.ca_cert.as_deref())?;
        return Ok(Some((opts, Vec::new())));
    }
    let Some(p) = profile else { return Ok(None) };
    let Some(d) = &p.daemon else {
        if c.token_file.is_some() || c.ca_cert.is_some() {
            anyhow::bail!(
                "--token-file and --ca-cert are for attaching to a daemon: add --connect URL, or `daemon: {{url: …}}` to the profile"
            );
        }
        return Ok(None);
    };
    let opts = ClientOptions::new(
        &d.url,
        c.token_file.as_deref().or(d.token_file.as_deref()),
        d.token_env.as_deref(),
        c.ca_cert.as_deref().or(d.ca_cert.as_deref()),
    )?;
    Ok(Some((opts, p.rules.clone())))
}

/// The monitor attached to a daemon: no sources, no store, no notifier in this process.
fn attached(
    args: &TuiArgs,
    opts: ClientOptions,
    rules: &[String],
    log_rx: tokio::sync::mpsc::Receiver<LogLine>,
) -> anyhow::Result<ExitCode> {
    let url = opts.url.clone();
    if !url.starts_with("https://") && !url.starts_with("http://") {
        anyhow::bail!(
            "--connect '{url}' must start with https:// (TLS) or http:// (a plaintext loopback daemon)"
        );
    }
    let run_opts = RunOptions {
        meta: Meta {
            profile: args
                .profile
                .profile
                .clone()
                .unwrap_or_else(|| host_port(&url)),
            // Statuses are recorded on the daemon (the feed then holds old alerts slimmed and
            // re-reads them from it).
            store: Some(format!("daemon {url}")),
            readonly: args.readonly,
            daemon: Some(DaemonLink::connecting(&url)),
            ..Meta::default()
        },
        rules_file: rules_file(args, rules),
        keymap_file: user_file("TFDRIFT_KEYMAP", "keymap.toml"),
        theme_file: user_file("TFDRIFT_THEME", "theme.toml"),
        validator: Box::new(RuleCompiler),
        event_converter: None,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(tfdrift::tui::run(
        run_opts,
        Box::new(Remote::new(opts, log_rx)),
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: &TuiArgs) -> anyhow::Result<ExitCode> {
    let daemon = daemon_options(args)?;
    if daemon.is_none() && args.profile.profile.is_none() {
        anyhow::bail!(
            "name a profile: tfdrift tui --profile demo (the bundled demo) or one from your config; or attach to a daemon: tfdrift tui --connect URL"
        );
    }
    let (layer, log_rx, _dropped) = LogLayer::new();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TFDRIFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    if let Some((opts, rules)) = daemon {
        return attached(args, opts, &rules, log_rx);
    }
    let Some(name) = &args.profile.profile else {
        anyhow::bail!("name a profile: tfdrift tui --profile demo");
    };

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
            daemon: None,
        },
        rules_file: rules_file(args, &setup.profile.rules),
        keymap_file: user_file("TFDRIFT_KEYMAP", "keymap.toml"),
        theme_file: user_file("TFDRIFT_THEME", "theme.toml"),
        validator: Box::new(RuleCompiler),
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
    opts.meta.store = Some(settings.describe());
    // Notifications run in the monitor too: the same router (at record time) and outbox worker
    // as the headless daemon.
    let notify = tfdrift::notify::NotifySetup::new(&setup.profile.notify, &setup.rules)
        .map_err(anyhow::Error::msg)?;
    let worker_store = store.clone();
    let store_for_ui = store.clone();
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
        let backend = Local::new(handle, Some(store_for_ui), log_rx);
        let result = tfdrift::tui::run(opts, Box::new(backend)).await;
        if let Some(n) = &notifier {
            // Give queued notifications a bounded chance to go out after the UI closed.
            n.drain(std::time::Duration::from_secs(5)).await;
        }
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
