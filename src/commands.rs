//! Command implementations behind the CLI. `anyhow` lives here, at the edge.

mod api_token;
mod catalog;
mod drifts;
mod explain;
mod headless;
mod notify;
mod reconcile;
mod remediation;
mod replay;
mod rules;
mod serve;
mod state_show;
#[cfg(feature = "tui")]
mod tui;
mod watch;
mod workspaces;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tfdrift::catalog::Catalog;
use tfdrift::config::{Profile, load_profile};
use tfdrift::pipeline::EngineOptions;
use tfdrift::state::{StateIndex, load_states};
use tfdrift::store::journal::Journal;
use tfdrift::store::{Store, StoreSettings};

use crate::cli::{Cli, Command, ProfileArgs, StateCommand};
use tfdrift::rules::RuleSet;

/// Logs go to stderr (never stdout: stdout carries alerts), level from `TFDRIFT_LOG` / `RUST_LOG`.
/// The headless daemon (`tui --no-ui`) logs structured JSON, one object a line, at `info`.
pub fn init_logging(cli: &Cli) {
    let daemon = matches!(&cli.command, Command::Tui(a) if a.no_ui)
        || matches!(&cli.command, Command::Serve(_));
    let default = if daemon { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TFDRIFT_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if daemon {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Whether the command takes over the terminal (then logs must not go to stderr).
#[must_use]
pub fn uses_terminal_ui(cli: &Cli) -> bool {
    cfg!(feature = "tui") && matches!(&cli.command, Command::Tui(a) if !a.no_ui)
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => replay::run(&args),
        #[cfg(feature = "tui")]
        Command::Tui(args) if !args.no_ui => tui::run(&args),
        Command::Tui(args) => headless::run(&args),
        Command::State(StateCommand::Show(args)) => state_show::run(&args),
        Command::Catalog(args) => catalog::run(&args),
        Command::Rules(cmd) => rules::run(&cmd),
        Command::Notify(cmd) => notify::run(&cmd),
        Command::Alerts(cmd) if watch::is_remote(&cmd) => watch::act(&cmd),
        Command::Alerts(cmd) => notify::alerts(&cmd),
        Command::Drifts(cmd) => drifts::run(&cmd),
        Command::Serve(args) => serve::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Api(cmd) => api_token::run(&cmd),
        Command::Reconcile(args) => reconcile::run(&args),
        Command::Workspaces(args) => workspaces::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Remediation(cmd) => remediation::run(&cmd),
    }
}

/// What every pipeline command needs: the catalog, the state index and engine options.
pub struct Setup {
    /// Compiled catalog.
    pub catalog: Arc<Catalog>,
    /// Indexed state.
    pub state: Arc<StateIndex>,
    /// The profile (empty when none was named).
    pub profile: Profile,
    /// Engine settings from the profile.
    pub engine: EngineOptions,
    /// Compiled rules (profile + `--rules`).
    pub rules: Arc<RuleSet>,
    /// Rule paths on disk (watched for hot reload by the live pipeline).
    pub rule_paths: Vec<std::path::PathBuf>,
}

/// Loads the profile (if named), the catalog and every state; reports state files that failed.
pub fn setup(
    p: &ProfileArgs,
    extra_state: &[String],
    extra_rules: &[String],
) -> anyhow::Result<Setup> {
    let profile = match &p.profile {
        Some(name) => load_profile(p.config.as_deref(), name)?,
        None => match &p.config {
            Some(path) => anyhow::bail!(
                "--config {} given without --profile: name the profile to use (tfdrift replay --profile NAME …)",
                path.display()
            ),
            None => Profile::default(),
        },
    };
    let severity = profile.severity().map_err(anyhow::Error::msg)?;
    let catalog = load_catalog(&profile)?;
    let mut state_paths = profile.state.clone();
    state_paths.extend(extra_state.iter().cloned());
    // `s3://` and `gs://` states are read by the live pipeline's refresher (and by
    // `state show`), not here.
    state_paths.retain(|s| !tfdrift::state::remote::is_remote(s));
    let has_remote = profile
        .state
        .iter()
        .chain(extra_state)
        .any(|s| tfdrift::state::remote::is_remote(s));
    let (state, failures) = load_states(&state_paths);
    for f in &failures {
        eprintln!("warning: state not loaded: {}", f.error);
    }
    if !state_paths.is_empty() && state.is_empty() && !failures.is_empty() {
        anyhow::bail!(
            "no state could be loaded ({} failed); fix the paths above",
            failures.len()
        );
    }
    if state_paths.is_empty() && !has_remote {
        eprintln!(
            "warning: no Terraform state given (--state or a profile): every change will be reported as unmanaged"
        );
    }
    let mut rule_specs = profile.rules.clone();
    rule_specs.extend(extra_rules.iter().cloned());
    let (rule_paths, rules) = load_rules(&rule_specs)?;
    Ok(Setup {
        rules: Arc::new(rules),
        rule_paths,
        catalog: Arc::new(catalog),
        state: Arc::new(state),
        engine: EngineOptions {
            default_severity: severity,
            terraform_principals: profile.terraform_principals.clone(),
            enrich: profile.enrich.clone(),
            ignore_changes: Arc::new(tfdrift::reconcile::ignore_set(&profile.workspaces)),
        },
        profile,
    })
}

/// The embedded catalog with the profile's own catalog files over it.
pub fn load_catalog(profile: &Profile) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::embedded()
        .context("the embedded event catalog does not load (a build problem)")?;
    if !profile.catalog.is_empty() {
        let loaded = tfdrift::catalog::user::load(&mut catalog, &profile.catalog)
            .map_err(|e| anyhow::anyhow!("the profile's catalog files do not load:\n{e}"))?;
        for l in &loaded {
            for w in &l.warnings {
                eprintln!("{w}");
            }
            tracing::info!(file = %l.file, events = l.events, overrides = l.overrides, "Catalog file loaded");
        }
    }
    Ok(catalog)
}

/// A live profile needs something to watch: says which keys add a source.
pub fn require_sources(name: &str, profile: &Profile) -> anyhow::Result<()> {
    if profile.inputs.is_empty() && profile.sources.is_empty() {
        anyhow::bail!(
            "profile '{name}' has no event sources: add `inputs:` (recorded logs) or `sources:` \
             (`{{type: sqs, queue_url, region}}`, `{{type: s3_backfill, bucket, since}}`, \
             `{{type: falco_http, listen}}`, `{{type: falco_grpc, address}}`, \
             `{{type: pubsub, subscription}}`) to it"
        );
    }
    Ok(())
}

/// Loads rule files: disk paths and `embedded:rules` (the packs shipped in the binary).
pub fn load_rules(specs: &[String]) -> anyhow::Result<(Vec<std::path::PathBuf>, RuleSet)> {
    let mut disk = Vec::new();
    let mut texts = Vec::new();
    for spec in specs {
        if let Some(emb) = spec.strip_prefix(tfdrift::config::EMBEDDED_PREFIX) {
            let files = tfdrift::assets::dir(emb);
            if files.is_empty() {
                anyhow::bail!("no embedded rule files under '{spec}'");
            }
            for (name, bytes) in files {
                let is_rules = (name.ends_with(".yaml") || name.ends_with(".yml"))
                    && !name.ends_with(".tests.yaml")
                    && !name.ends_with(".tests.yml");
                if is_rules {
                    texts.push((
                        format!("{}{name}", tfdrift::config::EMBEDDED_PREFIX),
                        String::from_utf8_lossy(bytes).into_owned(),
                    ));
                }
            }
        } else {
            disk.push(std::path::PathBuf::from(spec));
        }
    }
    let set = RuleSet::load_with_texts(&disk, &texts).map_err(|diags| {
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "rule files have errors (fix them, or check with `tfdrift rules validate`):\n{}",
            lines.join("\n")
        )
    })?;
    for w in set.warnings() {
        eprintln!("{w}");
    }
    if !texts.is_empty() && !disk.is_empty() {
        // The watcher reloads disk files only; swapping would drop the embedded packs.
        eprintln!("note: rule hot reload is off when embedded packs are combined with rule files");
        return Ok((Vec::new(), set));
    }
    Ok((disk, set))
}

/// Opens the store a profile names (default: the user's data directory).
pub fn open_store(settings: &StoreSettings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_journal(settings)?)
}

/// The same store, typed for the team API as well (its change journal): PostgreSQL when
/// `store.url` is set, else the SQLite file.
pub fn open_journal(settings: &StoreSettings) -> anyhow::Result<Arc<dyn Journal>> {
    let store = tfdrift::store::open_settings(settings)?;
    match &settings.url {
        Some(_) => tracing::info!("Store opened (PostgreSQL)"),
        None => tracing::info!(path = ?settings.resolved_path(), "Store opened"),
    }
    Ok(store)
}
