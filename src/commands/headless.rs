//! `tfdrift tui --no-ui`: the pipeline as a headless daemon. Alerts as JSON lines on stdout
//! (unless `--no-stdout`), structured JSON logs and the closing summary on stderr, notifications
//! through the outbox worker, `/healthz` and `/metrics` when `metrics:` is configured.
//! With `api:` in the profile it also serves the team-mode gRPC API (`tfdrift serve` is the
//! documented name of this command). SIGINT / SIGTERM stop the sources, drain what is queued, then give in-flight notifications
//! up to [`DRAIN_LIMIT`].
//!
//! Exit status: 0 clean stop, 1 configuration or startup error, 3 notifications were still
//! undelivered when the drain limit ran out (they stay in the outbox for the next start).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tfdrift::notify::NotifySetup;
use tfdrift::notify::metrics::{MetricsState, serve};
use tfdrift::pipeline::{PipelineConfig, spawn};

use crate::cli::TuiArgs;

/// How long in-flight notifications get after a stop signal.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Exit status when notifications were left undelivered at exit.
pub const EXIT_UNDELIVERED: u8 = 3;

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
    super::require_sources(name, &setup.profile)?;
    let mut replay = setup.profile.replay.clone();
    if let Some(ms) = args.replay_interval_ms {
        replay.interval_ms = ms;
    }
    let settings = setup.profile.store.clone().unwrap_or_default();
    let journal = super::open_journal(&settings)?;
    let store: std::sync::Arc<dyn tfdrift::store::Store> = journal.clone();
    let api_settings = setup.profile.api.clone();
    if let Some(api) = &api_settings {
        // Refuse an exposed API before anything starts.
        api.checked_addr()?;
    }
    let notify =
        NotifySetup::new(&setup.profile.notify, &setup.rules).map_err(anyhow::Error::msg)?;
    let router = notify.router.clone();
    let metrics_token = match setup
        .profile
        .metrics
        .as_ref()
        .and_then(|m| m.token_env.clone())
    {
        Some(var) => Some(std::env::var(&var).map_err(|_| {
            anyhow::anyhow!("metrics.token_env names '{var}', which is not set (export it)")
        })?),
        None => None,
    };
    let cfg = PipelineConfig {
        rules: setup.rules.clone(),
        rule_paths: setup.rule_paths.clone(),
        engine: setup.engine.clone(),
        inputs: setup.profile.inputs.clone(),
        replay,
        once: args.once,
        store: Some(store.clone()),
        retention: Some(settings.retention()),
        router: notify.outbox_router(),
        sources: setup.profile.sources.clone(),
        remote_state: setup.profile.remote_state(),
        aws: None,
    };
    let metrics_cfg = setup.profile.metrics.clone();
    // The team API's Rules calls: the rule files, the start set, the channels, rule tests.
    let (rule_paths, start_rules, catalog) = (
        setup.rule_paths.clone(),
        setup.rules.clone(),
        setup.catalog.clone(),
    );
    let channels: Vec<String> = setup.profile.notify.channels.keys().cloned().collect();
    let rules_api = move |watch| {
        let convert = super::rules::event_converter(catalog);
        tfdrift::api::rules::RulesApi::new(
            rule_paths,
            start_rules,
            watch,
            channels,
            Some(std::sync::Arc::new(convert)),
        )
    };
    let no_stdout = args.no_stdout;
    let profile_name = name.clone();
    let store_settings = settings.clone();
    // Remediation behind approval: plans and applies in the profile's workspaces.
    let remediation = tfdrift::api::remediation::RemediationApi::new(
        setup.profile.remediation.clone(),
        super::reconcile::context(
            &setup,
            Some(journal.clone() as std::sync::Arc<dyn tfdrift::store::Store>),
            notify.outbox_router(),
        ),
        setup.profile.workspaces.clone(),
    )
    .context("cannot create the directory for remediation plans")?;
    let reconcile = super::reconcile::Schedule::new(
        &setup,
        journal.clone() as std::sync::Arc<dyn tfdrift::store::Store>,
        notify.outbox_router(),
    );
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let mut handle = spawn(setup.catalog, setup.state, &cfg)?;
        let notifier = notify.start(store.clone());
        let cancel = handle.cancel_token();
        reconcile.start(cancel.clone());
        if let Some(m) = metrics_cfg {
            let state = MetricsState {
                stats: handle.stats.clone(),
                notify: notifier.as_ref().map(|n| n.stats.clone()),
                store: Some(store.clone()),
                deduped: router.clone(),
                token: metrics_token,
            };
            let addr = serve(&m.listen, state, cancel.clone())
                .await
                .with_context(|| format!("cannot listen on metrics address '{}'", m.listen))?;
            tracing::info!(%addr, "Serving /healthz and /metrics");
        }
        let api = match &api_settings {
            Some(settings) => {
                // The API reads through its own connection (WAL: readers never block the
                // engine's commits, however many watchers catch up from the store).
                let api_store = if store_settings.path.as_deref() == Some(":memory:") {
                    journal
                } else {
                    super::open_journal(&store_settings)?
                };
                let state = std::sync::Arc::new(
                    tfdrift::api::server::ApiState::new(
                        api_store,
                        handle.stats.clone(),
                        profile_name,
                        settings.watch_buffer.unwrap_or(1024),
                    )
                    .with_rules(rules_api(handle.rule_watch.clone()))
                    .with_remediation(remediation),
                );
                let (addr, task) = tfdrift::api::server::serve(settings, state.clone())
                    .await
                    .context("the team API (`api:` in the profile) did not start")?;
                tracing::info!(%addr, tls = settings.tls.is_some(), tokens = settings.tokens_file.is_some(), "Serving the team API");
                Some((state, task))
            }
            None => None,
        };
        let signal_cancel = cancel.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Signal received; draining");
            signal_cancel.cancel();
        });
        let stdout = std::io::stdout();
        while let Some(alert) = handle.alerts.recv().await {
            // Delivered means committed: wake the API's watchers now.
            if let Some((state, _)) = &api {
                state.poke();
            }
            if no_stdout {
                continue;
            }
            let mut out = stdout.lock();
            writeln!(out, "{}", alert.to_json_line()).context("writing alerts to stdout")?;
            out.flush().context("writing alerts to stdout")?;
        }
        handle.join().await;
        let mut code = ExitCode::SUCCESS;
        if let Some(n) = &notifier {
            if !n.drain(DRAIN_LIMIT).await {
                code = ExitCode::from(EXIT_UNDELIVERED);
            }
            for (ch, c) in n.stats.snapshot() {
                tracing::info!(channel = %ch, sent = c.sent, retried = c.retried, failed = c.failed, rate_limited = c.rate_limited, "Notification totals");
            }
        }
        cancel.cancel();
        if let Some((state, task)) = api {
            state.cancel.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        let stats = handle.stats.borrow().clone();
        eprintln!("{}", stats.summary());
        anyhow::Ok(code)
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
