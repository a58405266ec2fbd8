//! Command-line definitions (clap derive). Every command carries examples in its `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// tfdrift: know within seconds when Terraform-managed infrastructure is changed outside
/// Terraform — who changed what, the exact attribute diff, and how to put it back.
#[derive(Debug, Parser)]
#[command(name = "tfdrift", version, about, long_about = None, after_help = "\
Examples:
  tfdrift tui --profile demo --no-ui          # bundled demo, alerts as JSON lines
  tfdrift replay --state terraform.tfstate logs/   # replay recorded CloudTrail logs
  tfdrift state show --state terraform.tfstate     # what the state manages
  tfdrift catalog                                   # event coverage by service")]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that use a profile.
#[derive(Debug, Args, Clone, Default)]
pub struct ProfileArgs {
    /// Profile from the config file (`demo` is built in).
    #[arg(long, short = 'p')]
    pub profile: Option<String>,
    /// Config file (default: $TFDRIFT_CONFIG, ./tfdrift.yaml, ~/.config/tfdrift/config.yaml).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run recorded CloudTrail / GCP audit / Falco logs through the pipeline; alerts on stdout.
    #[command(after_help = "\
Examples:
  tfdrift replay --state prod.tfstate AWSLogs/                 # a directory, recursed, .gz read
  tfdrift replay --profile prod --fail-on-drift today.jsonl    # exit 2 if anything drifted
  zcat trail.json.gz | tfdrift replay --state s.tfstate -      # stdin
  tfdrift replay --state s.tfstate --stats-json stats.json logs/
  tfdrift replay --state s.tfstate s3://trail-bucket/ --since 2h   # CloudTrail backfill from S3
  tfdrift replay s3://trail-bucket/AWSLogs/o-abc123/ --since 2024-05-01 --until 2024-05-02

Exit status: 0 done, 1 usage or config error, 2 drift found (with --fail-on-drift).")]
    Replay(ReplayArgs),
    /// The on-call monitor (terminal UI), or with --no-ui the same pipeline headless.
    #[command(after_help = "\
Examples:
  tfdrift tui --profile demo                  # the on-call terminal UI over the bundled demo
  tfdrift tui --profile demo --no-ui          # bundled demo, loops until Ctrl-C
  tfdrift tui --profile demo --no-ui --once   # one pass over the demo events, then exit
  tfdrift tui --profile prod --no-ui          # headless daemon for a configured profile")]
    Tui(TuiArgs),
    /// Inspect Terraform state as tfdrift indexes it.
    #[command(subcommand)]
    State(StateCommand),
    /// Show what the event catalog covers, or check it against real logs.
    Catalog(CatalogArgs),
    /// Check rule files like a compiler, or run their tests.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Notification channels: send a test alert, re-queue failed deliveries.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Acknowledge or resolve a stored alert without the terminal UI (resolves its PagerDuty
    /// incident through the outbox).
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Drifts: what is out of line with Terraform now, since when, and how each one ended.
    #[command(subcommand)]
    Drifts(DriftsCommand),
    /// Team mode: run the daemon for a profile (the same as `tui --no-ui`), serving the gRPC
    /// API when the profile has `api:`.
    #[command(after_help = "\
Examples:
  tfdrift serve --profile prod                # sources, store, notifications and the team API
  tfdrift serve --profile prod --no-stdout    # alerts only to the store, channels and watchers

The profile's `api: {listen, tls: {cert, key, client_ca?}, tokens_file}` turns the API on;
listening beyond loopback requires tls and tokens_file. Exit status as `tui --no-ui`.")]
    Serve(ServeArgs),
    /// Team mode: follow a daemon's alerts and status changes as they happen (like
    /// `kubectl get -w`); reconnects and resumes from its cursor.
    #[command(after_help = "\
Examples:
  TFDRIFT_TOKEN=… tfdrift watch --connect https://tfdrift.internal:7443 --ca-cert ca.pem --json
  tfdrift watch --connect http://127.0.0.1:7443 --since 1234 --json
  tfdrift watch --profile prod                 # the profile's `daemon: {url, token_env, ca_cert}`

--json: alerts as their `tfdrift.alert/v1` lines, status changes as
{\"type\":\"status\",\"alert_id\",\"status\",\"who\",\"at\",\"note\",\"cursor\"} lines.
Exit status: 1 when the daemon refuses (token, role, version, TLS trust).")]
    Watch(WatchArgs),
    /// Team mode administration.
    #[command(subcommand)]
    Api(ApiCommand),
    /// Run `terraform plan -refresh-only` in the profile's workspaces: what drifted, and who
    /// changed it (from the event history) or "no event seen". Never applies, never writes state.
    #[command(after_help = "\
Examples:
  tfdrift reconcile --profile prod                      # every workspace of the profile
  tfdrift reconcile --profile prod --workspace network  # one (its label, dir or workspace name)
  tfdrift reconcile --profile prod --json               # one JSON report per workspace per line

Exit status: 0 in sync, 2 drift found, 3 a workspace could not be planned (credentials, lock,
configuration, timeout), 1 usage or config error.")]
    Reconcile(ReconcileArgs),
    /// The reconcile status board: per workspace the last run, its duration, its result and the
    /// open drifts.
    #[command(after_help = "\
Examples:
  tfdrift workspaces --profile prod
  tfdrift workspaces --profile prod --json
  tfdrift workspaces --profile prod --metrics           # the tfdrift_reconcile_* gauges")]
    Workspaces(WorkspacesArgs),
    /// Read a saved plan (`terraform show -json PLANFILE`) and say which changes would revert an
    /// open out-of-band change (with who, when, via what) and which are code changes.
    #[command(after_help = "\
Examples:
  terraform plan -out=tf.plan && terraform show -json tf.plan > plan.json
  tfdrift explain plan.json --profile prod
  tfdrift explain plan.json --profile prod --min-severity high --format markdown > comment.md

Exit status: 0 nothing reverted (or --allow-revert), 2 the apply would revert an open drift at or
above --min-severity, 1 usage or config error.")]
    Explain(ExplainArgs),
    /// Team mode: restore or accept a drift through a saved Terraform plan that another admin
    /// approves (the daemon's `remediation: {enabled: true}`).
    #[command(
        subcommand,
        after_help = "\
Examples:
  tfdrift remediation request drf-… --kind restore --note 'revert console change' --connect URL
  tfdrift remediation list --connect URL
  tfdrift remediation show 3 --connect URL          # the plan text, approvers, apply output
  tfdrift remediation approve 3 --connect URL       # an admin other than the requester
  tfdrift remediation reject 3 --reason 'not now' --connect URL

Exit status: 0 done, 1 refused by the daemon (role, self-approval, expired or superseded plan)
or unreachable, 2 approved but terraform apply failed."
    )]
    Remediation(RemediationCommand),
}

/// `remediation` subcommands (all through the daemon).
#[derive(Debug, Subcommand)]
pub enum RemediationCommand {
    /// Plan a restore (`terraform apply -target`) or an accept (`-refresh-only`) of a drift.
    Request {
        /// The drift's id (`drf-…`).
        drift: String,
        /// restore: put the code's value back; accept: take the cloud's value into state.
        #[arg(long, value_parser = ["restore", "accept"])]
        kind: String,
        /// Why (stored with the request).
        #[arg(long, default_value = "")]
        note: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Requests, newest first.
    List {
        /// Only this drift's.
        #[arg(long)]
        drift: Option<String>,
        /// Machine-readable output (one JSON object per line).
        #[arg(long)]
        json: bool,
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// One request: its plan text, approvers, apply output.
    Show {
        /// Request id.
        id: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Approve (admin, not the requester); with enough approvals the daemon applies the plan.
    Approve {
        /// Request id.
        id: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Reject a pending request (admin).
    Reject {
        /// Request id.
        id: i64,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
    },
}

/// `reconcile` arguments.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Profile (its `workspaces:`, `reconcile:` and store) and config.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Only this workspace (board label, directory or Terraform workspace name).
    #[arg(long)]
    pub workspace: Option<String>,
    /// One JSON report per workspace per line.
    #[arg(long)]
    pub json: bool,
}

/// `workspaces` arguments.
#[derive(Debug, Args)]
pub struct WorkspacesArgs {
    /// Profile and config (for the store path).
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// One JSON object per workspace per line.
    #[arg(long)]
    pub json: bool,
    /// Prometheus text of the latest runs.
    #[arg(long, conflicts_with = "json")]
    pub metrics: bool,
}

/// `explain` arguments.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// `terraform show -json` of a saved plan (`-` for stdin).
    pub plan: PathBuf,
    /// Profile and config (for the store's open drifts).
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Only reverts of at least this severity fail the run (info, low, medium, high, critical).
    #[arg(long, default_value = "info")]
    pub min_severity: String,
    /// Report reverts but exit 0.
    #[arg(long)]
    pub allow_revert: bool,
    /// `text` or `markdown` (a PR comment).
    #[arg(long, default_value = "text", value_parser = ["text", "markdown", "json"])]
    pub format: String,
}

/// Where a client finds the daemon.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectArgs {
    /// Daemon URL: `https://host:7443` (TLS) or `http://127.0.0.1:7443` (plaintext loopback).
    #[arg(long, value_name = "URL")]
    pub connect: Option<String>,
    /// File holding the API token (default: $TFDRIFT_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the daemon's certificate (default: the system roots).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Profile and config.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Stop after one pass over replayed inputs.
    #[arg(long)]
    pub once: bool,
    /// Do not print alerts on stdout.
    #[arg(long)]
    pub no_stdout: bool,
    /// Pause between replayed events in milliseconds (overrides the profile).
    #[arg(long, value_name = "MS")]
    pub replay_interval_ms: Option<u64>,
}

/// `watch` arguments.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The daemon.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// A profile whose `daemon:` names the daemon (instead of --connect).
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Start after this cursor (the `cursor` of the last line you processed); default: a
    /// snapshot of the newest alerts first.
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<i64>,
    /// JSON lines (alerts unchanged, status changes as objects).
    #[arg(long)]
    pub json: bool,
    /// Keep the last cursor in this file (rewritten atomically after each item), for scripts
    /// that resume with --since.
    #[arg(long, value_name = "FILE")]
    pub cursor_file: Option<PathBuf>,
}

/// `api` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Make a new API token: prints it once, and the `tokens.yaml` line (its SHA-256) to add.
    #[command(after_help = "\
Examples:
  tfdrift api token --name alice --role responder   # give alice the token, add the line
  tfdrift api token --name ci --role viewer

The token itself is shown only here; the daemon stores its hash. Roles: viewer (watch, read),
responder (+ ack, snooze, resolve, reopen, notify retry), admin (+ rules).")]
    Token {
        /// Who the token is for (recorded with every write it makes).
        #[arg(long)]
        name: String,
        /// viewer, responder or admin.
        #[arg(long, value_parser = ["viewer", "responder", "admin"])]
        role: String,
    },
}

/// `drifts` subcommands.
#[derive(Debug, Subcommand)]
pub enum DriftsCommand {
    /// List drifts (unresolved by default), most urgent first.
    #[command(after_help = "\
Examples:
  tfdrift drifts list --profile prod
  tfdrift drifts list --profile prod --status all --json
  tfdrift drifts list --profile prod --fail-on-open --min-severity high   # CI gate
  TFDRIFT_TOKEN=… tfdrift drifts list --connect https://tfdrift.internal:7443 --ca-cert ca.pem --json
  tfdrift drifts list --profile oncall     # a profile with `daemon:` asks that daemon

Exit status: 0 listed, 1 config, store or daemon error, 2 open drifts (with --fail-on-open).")]
    List(DriftsListArgs),
    /// One drift: its fields and everything that happened to it.
    #[command(after_help = "\
Examples:
  tfdrift drifts show drf-0123456789abcdef01234567 --profile prod
  tfdrift drifts show drf-0123456789abcdef01234567 --profile prod --json
  tfdrift drifts show drf-0123456789abcdef01234567 --connect http://127.0.0.1:7443

Exit status: 0 shown, 1 unknown drift, store or daemon error.")]
    Show(DriftIdArgs),
    /// Resolve a drift by hand (reason `manual`); every channel told about it hears it ended.
    #[command(after_help = "\
Examples:
  tfdrift drifts resolve drf-0123456789abcdef01234567 --profile prod --who alice
  tfdrift drifts resolve drf-0123456789abcdef01234567 --connect https://tfdrift.internal:7443

Exit status: 0 resolved, 1 unknown or already resolved drift, store or daemon error.")]
    Resolve(DriftIdArgs),
}

/// Arguments of `drifts list`.
#[derive(Debug, Args)]
pub struct DriftsListArgs {
    /// Profile and config (for the store path).
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// `open` (open, acknowledged or snoozed) or `all`.
    #[arg(long, default_value = "open", value_parser = ["open", "all"])]
    pub status: String,
    /// One JSON object per drift per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when an unresolved drift (of at least --min-severity) exists.
    #[arg(long)]
    pub fail_on_open: bool,
    /// Only drifts of at least this severity (info, low, medium, high, critical).
    #[arg(long)]
    pub min_severity: Option<String>,
    /// Ask a team-mode daemon through its API instead of opening the store (a profile with
    /// `daemon:` does the same).
    #[command(flatten)]
    pub remote: ConnectArgs,
}

/// Arguments of `drifts show` / `drifts resolve`.
#[derive(Debug, Args)]
pub struct DriftIdArgs {
    /// Drift id (`drf-…`, the `drift_id` of an alert).
    pub id: String,
    /// Profile and config (for the store path).
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// JSON output (show).
    #[arg(long)]
    pub json: bool,
    /// Who resolves (default: $USER; through --connect the daemon records the token's name).
    #[arg(long, conflicts_with = "connect")]
    pub who: Option<String>,
    /// Ask a team-mode daemon through its API instead of opening the store (a profile with
    /// `daemon:` does the same).
    #[command(flatten)]
    pub remote: ConnectArgs,
}

/// `alerts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Acknowledge an alert: saved in the store like `a` in the UI; PagerDuty channels that
    /// were sent its trigger get a `resolve` (delivered by a running `tfdrift tui --no-ui`).
    #[command(after_help = "\
Examples:
  tfdrift alerts ack tfd-ebe3ea94e376d47a975d748d --profile prod
  tfdrift alerts ack tfd-ebe3ea94e376d47a975d748d --profile prod --who alice
  tfdrift alerts ack tfd-ebe3ea94e376d47a975d748d --connect https://tfdrift.internal:7443 --ca-cert ca.pem --note 'expected'

Exit status: 0 saved, 1 unknown alert, store error, or refused by the daemon (the reason is printed).")]
    Ack(AlertAction),
    /// Resolve an alert (like `x` in the UI); PagerDuty incidents are resolved the same way.
    #[command(after_help = "\
Examples:
  tfdrift alerts resolve tfd-ebe3ea94e376d47a975d748d --profile prod

Exit status: 0 saved, 1 unknown alert or store error.")]
    Resolve(AlertAction),
}

/// Arguments of `alerts ack` / `alerts resolve`.
#[derive(Debug, Args)]
pub struct AlertAction {
    /// Alert id (`tfd-…`, the `id` of the JSON line).
    pub id: String,
    /// Profile and config (for the store path).
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Who acknowledges (default: $USER; through --connect the daemon records the token's name).
    #[arg(long, conflicts_with = "connect")]
    pub who: Option<String>,
    /// Act through a daemon's API instead of opening the store.
    #[command(flatten)]
    pub remote: ConnectArgs,
    /// A note recorded with the action (through --connect).
    #[arg(long, requires = "connect")]
    pub note: Option<String>,
}

/// `notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a sample alert to each configured channel (or one) and print the outcome.
    #[command(after_help = "\
Examples:
  tfdrift notify test --profile prod
  tfdrift notify test --profile prod --channel slack-oncall

Exit status: 0 every channel accepted the sample, 1 a channel failed or is misconfigured.")]
    Test {
        /// Profile and config.
        #[command(flatten)]
        profile: ProfileArgs,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
    },
    /// Put failed outbox items (of one channel, or all) back in the queue.
    #[command(after_help = "\
Examples:
  tfdrift notify retry --profile prod
  tfdrift notify retry --profile prod --channel pagerduty")]
    Retry {
        /// Profile and config.
        #[command(flatten)]
        profile: ProfileArgs,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
    },
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Report every problem in rule files at once (file:line:column, stable code, hint).
    #[command(after_help = "\
Examples:
  tfdrift rules validate                 # the shipped packs (rules/ or the embedded copy)
  tfdrift rules validate my-rules/ extra.yaml
  tfdrift rules validate --profile prod   # also: every channel a rule names exists

Exit status: 0 no errors (warnings may be printed), 1 errors.")]
    Validate {
        /// Rule files or directories (default: ./rules, else the embedded packs).
        paths: Vec<PathBuf>,
        /// Check that rule `actions` name channels this profile's `notify.channels` defines.
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Run the `tests:` of every rule (and sibling `*.tests.yaml`), print a table.
    #[command(after_help = "\
Examples:
  tfdrift rules test
  tfdrift rules test rules/aws-security-critical.yaml

Event fixtures (raw CloudTrail / audit records) go through the real pipeline (embedded catalog,
no state: changes to unknown resources are unmanaged). Exit status 1 when any test fails.")]
    Test {
        /// Rule files or directories (default: ./rules, else the embedded packs).
        paths: Vec<PathBuf>,
    },
    /// List a daemon's rule files (with versions) and the rules in force (team mode).
    #[command(after_help = "\
Examples:
  tfdrift rules list --connect https://tfdrift.internal:7443 --ca-cert ca.pem")]
    List {
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Download one of a daemon's rule files, byte for byte (team mode; any role).
    #[command(after_help = "\
Examples:
  tfdrift rules pull --connect https://tfdrift.internal:7443 -o aws.yaml
  tfdrift rules pull --connect URL --file /etc/tfdrift/rules/gcp.yaml   # when it has several

With -o the version pulled is kept beside the file (.NAME.tfdrift-pull), so `rules push`
knows what your edit started from.")]
    Pull {
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
        /// Which of the daemon's rule files: its path (`rules list`) or a file name unique
        /// among them (default: its only one).
        #[arg(long, value_name = "NAME")]
        file: Option<String>,
        /// Write the text here instead of stdout.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Save a rule file on a daemon (team mode; admin role): validated by the daemon, refused
    /// if someone changed the file since your pull, then reloaded.
    #[command(after_help = "\
Examples:
  tfdrift rules pull --connect URL -o aws.yaml && $EDITOR aws.yaml && tfdrift rules push aws.yaml --connect URL

Exit status: 0 saved and reloaded (or nothing to change); 1 refused (role, validation errors,
someone else's change, unknown file) — nothing was written; 2 saved but the daemon's reload
was rejected or did not happen (the previous rules stay in force).")]
    Push {
        /// The edited rule file.
        file: PathBuf,
        /// The daemon.
        #[command(flatten)]
        connect: ConnectArgs,
        /// A profile whose `daemon:` names the daemon (instead of --connect).
        #[command(flatten)]
        profile: ProfileArgs,
        /// The daemon's file to replace (default: the one FILE was pulled from, else the one
        /// with FILE's name).
        #[arg(long = "as", value_name = "NAME")]
        target: Option<String>,
        /// The version the edit started from (default: the one `rules pull -o` recorded).
        #[arg(long, value_name = "VERSION")]
        base: Option<String>,
    },
}

/// `replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Profile and config.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Terraform state file or directory (repeatable; added to the profile's).
    #[arg(long = "state", short = 's')]
    pub state: Vec<String>,
    /// Rule file or directory (repeatable; added to the profile's).
    #[arg(long = "rules", short = 'r')]
    pub rules: Vec<String>,
    /// Write counters (records read, parsed, unparseable with reasons, silent kinds, alerts) as JSON.
    /// Checked before anything is read (exit 1 when it cannot be written); a write failure at the
    /// end is reported but does not replace `--fail-on-drift`'s exit 2.
    #[arg(long)]
    pub stats_json: Option<PathBuf>,
    /// Exit with status 2 when any alert was raised (like `terraform plan -detailed-exitcode`).
    #[arg(long)]
    pub fail_on_drift: bool,
    /// Record alerts and history in this SQLite database (and skip events it already holds).
    /// Without it a replay writes nothing.
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Threads that parse local inputs (default: the available cores, at most 7); output and
    /// stats are the same whatever the number. Chunks in flight stay within 24 MiB (the chunk
    /// shrinks from 4 MiB as threads are added, down to 1 MiB at 8 threads); gzip is
    /// decompressed on a thread of its own, in parallel with the parse.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Build a full event for every record (the path before the replay prefilter): slower,
    /// same output; kept to compare against.
    #[arg(long, hide = true)]
    pub full_parse: bool,
    /// `s3://` inputs: start of the window, a duration back from now (`2h`, `7d`) or an RFC 3339
    /// time. Only the window's day folders are listed; records outside it are counted, not run.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// `s3://` inputs: end of the window (same forms; default now).
    #[arg(long, value_name = "WHEN", requires = "since")]
    pub until: Option<String>,
    /// `s3://` inputs: the bucket's region (default $AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// `s3://` inputs: a custom S3 endpoint (a local server; path-style addressing).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Files, directories (recursed), `-` for stdin, or `s3://bucket/prefix` (a CloudTrail
    /// bucket: needs --since).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// `tui` arguments.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // independent command-line flags
pub struct TuiArgs {
    /// Profile and config.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Run headless: alerts as JSON lines on stdout, logs on stderr.
    #[arg(long, conflicts_with = "connect")]
    pub no_ui: bool,
    /// Stop after one pass over replayed inputs (the demo otherwise loops).
    #[arg(long)]
    pub once: bool,
    /// Headless: do not print alerts on stdout (notifications and the store still get them).
    #[arg(long, requires = "no_ui")]
    pub no_stdout: bool,
    /// Pause between replayed events in milliseconds (overrides the profile; 0 = no pause).
    #[arg(long, value_name = "MS")]
    pub replay_interval_ms: Option<u64>,
    /// Rule file the UI's editor opens (default: the profile's first rule file on disk, else
    /// ~/.config/tfdrift/rules/local.yaml).
    #[arg(long)]
    pub rules_file: Option<PathBuf>,
    /// Monitor only: acknowledge, snooze, resolve and rule edits are disabled.
    #[arg(long)]
    pub readonly: bool,
    /// Attach to a team-mode daemon (`--connect URL`, or the profile's `daemon:`) instead of
    /// running the pipeline here.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List managed resources: address, type, id, provider.
    #[command(after_help = "\
Examples:
  tfdrift state show --state terraform.tfstate
  tfdrift state show --profile demo --json")]
    Show(StateShowArgs),
}

/// `state show` arguments.
#[derive(Debug, Args)]
pub struct StateShowArgs {
    /// Profile and config.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// State file or directory (repeatable).
    #[arg(long = "state", short = 's')]
    pub state: Vec<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `catalog` arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  tfdrift catalog                     # coverage by service
  tfdrift catalog check AWSLogs/      # share of mutating events mapped in real logs
  tfdrift catalog show AuthorizeSecurityGroupIngress   # the mapping and the file it comes from
  tfdrift catalog -p prod check logs/ # with the profile's own `catalog:` files over the built-in")]
pub struct CatalogArgs {
    /// The profile whose `catalog:` files are loaded over the built-in catalog.
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// `check FILE...`: measure coverage on real logs.
    #[command(subcommand)]
    pub command: Option<CatalogCommand>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `catalog` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// For real logs: share of mutating events mapped, unsupported names by frequency.
    Check {
        /// Log files or directories.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Which mapping an event name has, and which catalog file it comes from.
    Show {
        /// The event name (`AuthorizeSecurityGroupIngress`, `v1.compute.firewalls.patch`).
        event: String,
    },
}
