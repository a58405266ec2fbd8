//! `tfdrift replay`: recorded logs through the pipeline, alerts as JSON lines on stdout.
//! `s3://bucket/prefix` inputs are a CloudTrail backfill: the log files of the `--since` /
//! `--until` window, read from the trail's bucket (see `tfdrift::collect::s3_backfill`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::alert::Alert;
use tfdrift::collect::s3_backfill::{Backfill, Window};
use tfdrift::pipeline::replay::{ReplayOptions, replay_paths_with};
use tfdrift::pipeline::{Engine, Signals, SourceItem, Stats};

use crate::cli::ReplayArgs;

pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let (remote, local): (Vec<PathBuf>, Vec<PathBuf>) = args
        .inputs
        .iter()
        .cloned()
        .partition(|p| p.to_str().is_some_and(|s| s.starts_with("s3://")));
    let window = match (&args.since, remote.is_empty()) {
        (Some(since), false) => Some(
            Window::parse(since, args.until.as_deref(), chrono::Utc::now())
                .context("--since / --until")?,
        ),
        (None, false) => anyhow::bail!(
            "{} is an S3 backfill: give the window with --since (e.g. --since 2h, or --since 2024-05-01T00:00:00Z --until 2024-05-02T00:00:00Z)",
            remote[0].display()
        ),
        (Some(_), true) => {
            anyhow::bail!("--since applies to s3:// inputs only; local files are replayed whole")
        }
        (None, true) => None,
    };
    // Checked before any work: a typo in the path must not cost a whole replay. Opened without
    // truncation (a failed run leaves an earlier file as it was); rewritten at the end.
    let mut stats_file = match &args.stats_json {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| {
                    format!(
                        "cannot write --stats-json {}: check that its directory exists and is \
                         writable",
                        path.display()
                    )
                })?,
        ),
        None => None,
    };
    let setup = super::setup(&args.profile, &args.state, &args.rules)?;
    let mut engine = Engine::new(setup.catalog, setup.state, &setup.engine)
        .context("invalid terraform_principals glob in the profile")?;
    engine.set_rules(setup.rules);
    if let Some(path) = &args.store {
        // Opt-in: a replay records into a store only when asked, so re-running a replay never
        // meets its own earlier events as duplicates by surprise.
        let settings = tfdrift::store::StoreSettings {
            path: Some(path.display().to_string()),
            ..tfdrift::store::StoreSettings::default()
        };
        engine = engine.with_store(super::open_store(&settings)?);
    }
    let mut stats = Stats::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_error = None;
    let mut on_alert = |alert: Alert| {
        if write_error.is_none()
            && let Err(e) = writeln!(out, "{}", alert.to_json_line())
        {
            write_error = Some(e);
        }
    };
    if !local.is_empty() {
        let options = ReplayOptions {
            // The available cores by default; the chunk size shrinks with the threads so that
            // what is in flight stays within `replay::CHUNK_BUDGET`.
            threads: args
                .threads
                .map_or_else(tfdrift::pipeline::replay::default_threads, usize::from),
            full_parse: args.full_parse,
        };
        replay_paths_with(&mut engine, &local, options, &mut stats, &mut on_alert)?;
    }
    if let Some(window) = window {
        backfill(
            args,
            &remote,
            window,
            &mut engine,
            &mut stats,
            &mut on_alert,
        )?;
    }
    out.flush().context("writing alerts to stdout")?;
    if let Some(e) = write_error {
        return Err(e).context("writing alerts to stdout");
    }
    eprintln!("{}", stats.summary());
    let drift = args.fail_on_drift && stats.alerts > 0;
    if let (Some(path), Some(file)) = (&args.stats_json, stats_file.as_mut())
        && let Err(e) = write_stats(file, &stats)
    {
        // Drift found is the answer the caller asked for: a failed stats write is reported
        // but does not replace exit status 2.
        eprintln!(
            "error: writing --stats-json {}: {e} (the alerts above are complete)",
            path.display()
        );
        return Ok(ExitCode::from(if drift { 2 } else { 1 }));
    }
    Ok(if drift {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Rewrites the stats file opened at start.
fn write_stats(file: &mut std::fs::File, stats: &Stats) -> std::io::Result<()> {
    use std::io::Seek as _;
    let json = serde_json::to_string_pretty(stats)?;
    file.set_len(0)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(json.as_bytes())?;
    file.sync_all()
}

/// Runs every `s3://` input's window through the engine, file by file in delivery order.
fn backfill(
    args: &ReplayArgs,
    remote: &[PathBuf],
    window: Window,
    engine: &mut Engine,
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) -> anyhow::Result<()> {
    let region = args
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_string());
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let sdk = rt.block_on(tfdrift::collect::aws_sdk_config(
        &region,
        args.endpoint_url.as_deref(),
        None,
    ));
    let s3 = tfdrift::collect::s3_client(&sdk);
    let mut signals = Signals::default();
    for input in remote {
        let url = input.display().to_string();
        let loc = tfdrift::state::remote::S3Location::parse(&url).map_err(anyhow::Error::msg)?;
        let bf = Backfill::new(s3.clone(), &loc.bucket, &loc.key, window, 8);
        let keys = rt
            .block_on(bf.list())
            .with_context(|| format!("backfill {url}"))?;
        tracing::info!(input = %url, files = keys.len(), "Backfilling CloudTrail log files");
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let fetcher = rt.spawn(async move { bf.fetch_all(keys, tx).await });
        while let Some(file) = rx.blocking_recv() {
            if let Some(e) = &file.error {
                eprintln!("warning: {}: {e}; counted as unparseable", file.origin);
            }
            for item in file.items {
                feed(engine, item, stats, &mut signals, on_alert);
            }
        }
        rt.block_on(fetcher).context("the S3 fetch task failed")?;
    }
    Ok(())
}

/// One source item through the engine (batches are flattened).
fn feed(
    engine: &mut Engine,
    item: SourceItem,
    stats: &mut Stats,
    signals: &mut Signals,
    on_alert: &mut dyn FnMut(Alert),
) {
    match item {
        SourceItem::Event(ev) => engine
            .process(&ev, stats, signals)
            .into_iter()
            .for_each(on_alert),
        SourceItem::Skipped(kind) => stats.skipped(kind),
        SourceItem::Unparseable { origin, reason } => stats.unparseable(&origin, &reason),
        SourceItem::Batch { items, ack: _ } => {
            for i in items {
                feed(engine, i, stats, signals, on_alert);
            }
        }
        SourceItem::State { .. } | SourceItem::Tick => {}
    }
}
