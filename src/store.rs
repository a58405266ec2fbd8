//! The store: what tfdrift remembers across restarts — events already processed (dedupe), the
//! alert log, acknowledgements and snoozes, per-resource change history (for enrichment) and the
//! notification outbox.
//!
//! [`Store`] is the seam: the embedded [`SqliteStore`] implements it today, a shared server
//! database can implement it later so several instances share history and dedupe. The trait is
//! synchronous (SQLite is); async callers use `tokio::task::spawn_blocking` or run the engine on
//! a blocking thread, as the runtime does.
//!
//! Durability contract: when a write method returns `Ok`, the rows are on disk (WAL with
//! `synchronous=FULL`: the commit is fsynced) and survive `kill -9`, a crash or a power loss.

pub mod issue_links;
pub mod journal;
pub mod postgres;
pub mod remediations;
pub mod schema;
pub mod sqlite;
mod sqlite_drift;
mod sqlite_history;
mod sqlite_outbox;
pub mod workspace_runs;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{ActorRef, Alert, ResourceRef};
use crate::drift::{Drift, DriftEvent, DriftOp, Resolution};

pub use issue_links::IssueLink;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use sqlite_drift::DriftFilter;
pub use workspace_runs::WorkspaceRun;

/// Default retention of events, alerts, history and finished outbox items.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Store errors. Each names the database file and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory for the database cannot be created.
    #[error(
        "cannot create the directory for the tfdrift database '{path}': {source} (create it, or set `store: {{path: …}}` in the profile)"
    )]
    Dir {
        /// Database path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The database cannot be opened or set up.
    #[error(
        "cannot open the tfdrift database '{path}': {source} (check that the file and its directory are writable and the disk is not full, or set `store: {{path: …}}` in the profile)"
    )]
    Open {
        /// Database path.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The file was written by a newer tfdrift.
    #[error(
        "the tfdrift database '{path}' has schema version {found}, newer than this tfdrift knows ({known}): upgrade tfdrift, or point `store.path` at another file"
    )]
    TooNew {
        /// Database path.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A query or write failed.
    #[error(
        "tfdrift database '{path}': {op} failed: {source} (check disk space and permissions; if the file is corrupt, move it aside and tfdrift starts a fresh one)"
    )]
    Sql {
        /// Database path.
        path: String,
        /// What was being done.
        op: &'static str,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The PostgreSQL store is misconfigured (URL, password source, TLS).
    #[error("store: {0}")]
    Config(String),
    /// A PostgreSQL query, connection or transaction failed.
    #[error(
        "tfdrift database '{url}': {op} failed: {} (check that the server is up and reachable, and the role's rights on the database)",
        postgres::error_detail(.source)
    )]
    Postgres {
        /// The server and database, without the password.
        url: String,
        /// What was being done.
        op: &'static str,
        /// Cause.
        source: tokio_postgres::Error,
    },
    /// No PostgreSQL connection could be had from the pool in time.
    #[error(
        "tfdrift database '{url}': {op}: no connection from the pool: {reason} (check that the server is up and reachable, or raise `store.pool`)"
    )]
    Pool {
        /// The server and database, without the password.
        url: String,
        /// What was being done.
        op: &'static str,
        /// Why (timeout, refused, authentication).
        reason: String,
    },
    /// A stored alert no longer parses (written by an incompatible build).
    #[error("tfdrift database '{path}': stored alert '{id}' does not parse: {source}")]
    Corrupt {
        /// Database path.
        path: String,
        /// Alert id.
        id: String,
        /// Cause.
        source: serde_json::Error,
    },
}

/// `store:` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Database file; `:memory:` for a throwaway store. Default: the user's data directory.
    #[serde(default)]
    pub path: Option<String>,
    /// Days to keep events, alerts, history and finished outbox items (default 30).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// A shared PostgreSQL database (`postgres://user@host:5432/db?sslmode=require`) instead of
    /// the SQLite file: what several replicas share (see [`postgres`]).
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL connections at most (default 16).
    #[serde(default)]
    pub pool: Option<usize>,
    /// Environment variable holding the PostgreSQL password (else the URL's, or `PGPASSWORD`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the PostgreSQL password (a mounted Kubernetes Secret), trailing newline
    /// ignored.
    #[serde(default)]
    pub password_file: Option<String>,
}

impl StoreSettings {
    /// The configured retention, or the default.
    #[must_use]
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(
            self.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
        ))
    }

    /// Where the store is, for people (the monitor's header, logs): the PostgreSQL server and
    /// database without the password, else the SQLite file.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.url {
            Some(url) => postgres::describe_url(url),
            None => self
                .resolved_path()
                .map_or_else(|| "store".to_string(), |p| p.display().to_string()),
        }
    }

    /// The database path: the configured one, or [`default_path`].
    #[must_use]
    pub fn resolved_path(&self) -> Option<PathBuf> {
        self.path.as_ref().map(PathBuf::from).or_else(default_path)
    }
}

/// `$XDG_DATA_HOME/tfdrift/tfdrift.db`, else `~/.local/share/tfdrift/tfdrift.db`.
#[must_use]
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share"))
        })?;
    Some(base.join("tfdrift").join("tfdrift.db"))
}

/// Opens (creating if needed) the SQLite store at `path`.
pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(path)
}

/// Opens the store `store:` names: PostgreSQL when `url` is set, else the SQLite file (the
/// configured path or [`default_path`]). Returns the team-mode handle, which is a [`Store`] too.
pub fn open_settings(
    settings: &StoreSettings,
) -> Result<std::sync::Arc<dyn journal::Journal>, StoreError> {
    if settings.url.is_some() {
        return Ok(std::sync::Arc::new(PostgresStore::open(settings)?));
    }
    let path = settings.resolved_path().ok_or_else(|| {
        StoreError::Config(
            "no data directory: set HOME or XDG_DATA_HOME, or `store: {path: …}` in the profile"
                .into(),
        )
    })?;
    Ok(std::sync::Arc::new(SqliteStore::open(&path)?))
}

/// The key history rows are filed under: `type:id` (stable across renames of the address).
#[must_use]
pub fn resource_key(r: &ResourceRef) -> String {
    format!("{}:{}", r.rtype, r.id)
}

/// The identity history is grouped by: the caller ARN (which for assumed roles includes the
/// session, i.e. the person), else the email, else the principal id.
#[must_use]
pub fn actor_key(a: &ActorRef) -> Option<String> {
    a.arn
        .clone()
        .or_else(|| a.email.clone())
        .or_else(|| a.principal.clone())
}

/// What stays the same when the same drift recurs: kind, type and id. Snoozes and acks by
/// fingerprint silence every later alert with it.
#[must_use]
pub fn fingerprint(a: &Alert) -> String {
    format!("{}:{}:{}", a.kind.as_str(), a.resource.rtype, a.resource.id)
}

/// The note of an acknowledgement that reopens an alert (cancels earlier acks, resolves and
/// snoozes); every other ack resolves the alert's PagerDuty incidents.
pub const NOTE_REOPENED: &str = "reopened";

/// The note (status marker) of an acknowledgement, as the monitor, the CLI and the API write it.
pub const NOTE_ACK: &str = "ack";

/// The note (status marker) of a resolve.
pub const NOTE_RESOLVED: &str = "resolved";

/// A notification to enqueue in the same transaction as its alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Channel name from the profile (`slack-oncall`, `pagerduty`).
    pub channel: String,
    /// The alert it notifies about.
    pub alert_id: String,
    /// The rendered payload the channel sends (so retries send the same bytes).
    pub payload: String,
}

/// Delivery status of an outbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Claimed by a worker until `next_attempt_at` (a lease: if the worker dies it becomes due
    /// again, at once when a worker on the same host sees at start-up that it died).
    Sending,
    /// Sent.
    Delivered,
    /// Gave up; `retry_failed` puts it back.
    Failed,
}

impl OutboxStatus {
    /// The value stored in the `status` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Failed => "failed",
        }
    }

    /// Parses a stored status.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => OutboxStatus::Pending,
            "sending" => OutboxStatus::Sending,
            "delivered" => OutboxStatus::Delivered,
            "failed" => OutboxStatus::Failed,
            _ => return None,
        })
    }
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// Row id: what `outbox_delivered` and friends take.
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// Alert id.
    pub alert_id: String,
    /// Payload to send.
    pub payload: String,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it is due (or, while `sending`, when the claim expires).
    pub next_attempt_at: DateTime<Utc>,
    /// Delivery attempts so far (claims).
    pub attempts: u32,
    /// Status.
    pub status: OutboxStatus,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What an acknowledgement or snooze applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One alert.
    Alert(String),
    /// Every alert with this [`fingerprint`].
    Fingerprint(String),
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// Row id.
    pub id: i64,
    /// What it acknowledges.
    pub target: Target,
    /// Who acknowledged.
    pub who: String,
    /// Free text.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A snooze: alerts for the target are muted until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snooze {
    /// Row id.
    pub id: i64,
    /// What it mutes.
    pub target: Target,
    /// Who snoozed.
    pub who: String,
    /// Muted until.
    pub until: DateTime<Utc>,
    /// Free text.
    pub note: Option<String>,
    /// When it was set.
    pub at: DateTime<Utc>,
}

/// One earlier change to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When the change happened.
    pub time: DateTime<Utc>,
    /// [`resource_key`].
    pub resource_key: String,
    /// Terraform address at the time, when managed.
    pub address: Option<String>,
    /// [`actor_key`] of who made it.
    pub actor: Option<String>,
    /// Alert kind (`attribute_drift` …).
    pub kind: String,
    /// Event name (`AuthorizeSecurityGroupIngress`).
    pub event_name: String,
    /// Event id.
    pub event_id: String,
    /// The alert it raised.
    pub alert_id: String,
}

impl HistoryEntry {
    /// The history row an alert writes.
    #[must_use]
    pub fn from_alert(a: &Alert) -> Self {
        HistoryEntry {
            time: a.time,
            resource_key: resource_key(&a.resource),
            address: a.resource.address.clone(),
            actor: actor_key(&a.actor),
            kind: a.kind.as_str().to_string(),
            event_name: a.event.name.clone(),
            event_id: a.event.id.clone(),
            alert_id: a.id.clone(),
        }
    }
}

/// One event's share of a [`Store::record_batch`].
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    /// Keys marked processed: the event id first (the one that decides "already recorded"),
    /// then its GCP operation key, if any.
    pub seen: &'a [&'a str],
    /// The event's time.
    pub time: Option<DateTime<Utc>>,
    /// Its alerts.
    pub alerts: &'a [Alert],
    /// Notifications enqueued with them (kept only when the alert's drift notifies, see
    /// [`crate::drift`], when `drifts` is not empty).
    pub outbox: &'a [OutboxItem],
    /// Drift occurrences and resolutions the event causes, applied in its transaction.
    pub drifts: &'a [DriftOp],
}

/// What a person does to a drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftAction {
    /// Seen, being handled.
    Acknowledge,
    /// Muted until then.
    Snooze(DateTime<Utc>),
    /// Over (reason `manual`): every channel told about it is told.
    Resolve,
}

/// What [`Store::history_summary`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistorySummary {
    /// Changes per day, oldest first; the last entry is the 24 hours up to `until`.
    pub days: [u32; 7],
    /// The newest changes, newest first.
    pub recent: Vec<HistoryEntry>,
    /// More rows than the cap: the counts stop there (the oldest days are undercounted).
    pub capped: bool,
}

/// Counts a change at `time` into its day of `days` (oldest first, the last one the 24 hours up
/// to `until`); outside the 7 days: ignored.
pub fn add_day(days: &mut [u32; 7], until: DateTime<Utc>, time: DateTime<Utc>) {
    let age = (until - time).num_milliseconds();
    if let Ok(day) = usize::try_from(age / 86_400_000)
        && day < 7
    {
        days[6 - day] += 1;
    }
}

/// What pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Rows removed across all tables.
    pub rows: usize,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Store")
    }
}

/// The store seam. Every write is durable when it returns `Ok`.
pub trait Store: Send + Sync {
    /// Whether this event id (or GCP operation key) was already processed to completion.
    fn is_seen(&self, key: &str) -> Result<bool, StoreError>;

    /// Marks an event processed (no alerts). Returns false when it already was.
    fn record_event(&self, key: &str, time: Option<DateTime<Utc>>) -> Result<bool, StoreError>;

    /// In one transaction: marks every key in `seen` processed, inserts the alerts with their
    /// history rows, and enqueues `outbox`. Returns false — and writes nothing — when the first
    /// key was already processed (another instance or a redelivery won the race), so an event
    /// never alerts twice. Alerts already stored (same id) are left as they are.
    fn record_alerts(
        &self,
        seen: &[&str],
        time: Option<DateTime<Utc>>,
        alerts: &[Alert],
        outbox: &[OutboxItem],
    ) -> Result<bool, StoreError>;

    /// Records several events' alerts together: one transaction, one fsync, for a group of
    /// events the engine drained at once (group commit). Each entry behaves as
    /// [`Store::record_alerts`] (`false`: its first key was already processed and nothing of it
    /// was written). `Err`: nothing of the batch was written by this call's transaction — the
    /// caller treats every entry as unrecorded and lets the inputs be redelivered.
    ///
    /// The default records one entry after another (not atomic: on `Err` the entries before the
    /// failing one may be durable, which is safe, because a redelivery of a recorded event is
    /// answered `false`, i.e. taken as a duplicate).
    fn record_batch(&self, batch: &[EventRecord<'_>]) -> Result<Vec<bool>, StoreError> {
        batch
            .iter()
            .map(|r| self.record_alerts(r.seen, r.time, r.alerts, r.outbox))
            .collect()
    }

    /// Changes to `resource_key` in the 7 days up to `until`, in bounded work however often
    /// the resource changed: per-day counts of at most the newest `cap` rows, and the newest
    /// `recent` rows. A resource changed thousands of times a week (an automation fighting
    /// Terraform) would otherwise make every alert on it read all of them.
    ///
    /// The default reads [`Store::history`] whole.
    fn history_summary(
        &self,
        resource_key: &str,
        until: DateTime<Utc>,
        recent: usize,
        cap: usize,
    ) -> Result<HistorySummary, StoreError> {
        let since = until - chrono::Duration::days(7);
        let mut rows: Vec<HistoryEntry> = self
            .history(resource_key, since)?
            .into_iter()
            .filter(|r| r.time > since && r.time <= until)
            .collect();
        rows.reverse();
        let mut s = HistorySummary {
            capped: rows.len() > cap,
            ..HistorySummary::default()
        };
        for r in rows.iter().take(cap) {
            add_day(&mut s.days, until, r.time);
        }
        rows.truncate(recent);
        s.recent = rows;
        Ok(s)
    }

    /// A stored alert.
    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError>;

    /// Alerts since `since`, newest first, at most `limit`.
    fn recent_alerts(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Alert>, StoreError>;

    /// Changes to `resource_key` at or after `since`, oldest first.
    fn history(
        &self,
        resource_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Changes by `actor` at or after `since`, newest first, at most `limit`.
    fn actor_recent(
        &self,
        actor: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Records an acknowledgement; returns its row id. Unless the note is [`NOTE_REOPENED`], the
    /// same transaction enqueues a `resolve` notification for each channel that was sent a
    /// trigger for the alert and asked for one (PagerDuty).
    fn ack(
        &self,
        target: &Target,
        who: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Acknowledgements that apply to `alert` (by id or fingerprint).
    fn acks_for(&self, alert: &Alert) -> Result<Vec<Ack>, StoreError>;

    /// Records a snooze; returns its row id.
    fn snooze(
        &self,
        target: &Target,
        who: &str,
        until: DateTime<Utc>,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// The snooze muting `alert` at `now`, if any (the one lasting longest).
    fn snoozed(&self, alert: &Alert, now: DateTime<Utc>) -> Result<Option<Snooze>, StoreError>;

    /// Enqueues notifications outside an alert insert (re-sends, tests).
    fn outbox_enqueue(&self, items: &[OutboxItem], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Claims up to `limit` due items (pending, or sending with an expired lease): marks them
    /// `sending` with a lease until `now + lease`, counts the attempt, and returns them.
    fn outbox_claim(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: chrono::Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// [`Store::outbox_claim`], recording `owner` (the claiming process, `host/pid/start`) on
    /// the lease so that [`Store::outbox_release_dead`] can tell whose leases are dead. The
    /// default ignores the owner.
    fn outbox_claim_for(
        &self,
        owner: Option<&str>,
        now: DateTime<Utc>,
        limit: usize,
        lease: chrono::Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let _ = owner;
        self.outbox_claim(now, limit, lease)
    }

    /// Puts `sending` items back to `pending` (due `now`) when `dead` says their lease owner
    /// (`None`: claimed without one, by an older tfdrift) is gone; returns how many. A worker
    /// calls it at start-up so notifications in flight when a process died go out at once, not
    /// after the lease. The default takes nothing back (the leases run out).
    fn outbox_release_dead(
        &self,
        dead: &dyn Fn(Option<&str>) -> bool,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let _ = (dead, now);
        Ok(0)
    }

    /// Marks an item delivered.
    fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Puts an item back to `pending`, due at `at`, remembering the error.
    fn outbox_retry_at(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;

    /// Gives up on an item.
    fn outbox_failed(&self, id: i64, error: &str) -> Result<(), StoreError>;

    /// How many outbox items are in each status.
    fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError>;

    /// How many outbox items of `status` each channel has.
    fn outbox_counts_by_channel(
        &self,
        status: OutboxStatus,
    ) -> Result<Vec<(String, u64)>, StoreError>;

    /// Items with `status`, oldest first, at most `limit`.
    fn outbox_list(
        &self,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Puts failed items (of one channel, or all) back to pending, due `now`, attempts reset.
    fn outbox_retry_failed(
        &self,
        channel: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Drifts matching `filter` (unresolved first, most severe, newest). The default (stores
    /// without drifts) has none.
    fn drifts(&self, _filter: &DriftFilter) -> Result<Vec<Drift>, StoreError> {
        Ok(Vec::new())
    }

    /// One drift.
    fn drift(&self, _id: &str) -> Result<Option<Drift>, StoreError> {
        Ok(None)
    }

    /// What happened to a drift, oldest first.
    fn drift_events(&self, _id: &str) -> Result<Vec<DriftEvent>, StoreError> {
        Ok(Vec::new())
    }

    /// A person acknowledges, snoozes or resolves a drift; resolving enqueues, in the same
    /// transaction, a `resolve` for every channel told about it. `None`: unknown drift, or
    /// already resolved.
    fn drift_act(
        &self,
        _id: &str,
        _action: DriftAction,
        _who: &str,
        _at: DateTime<Utc>,
    ) -> Result<Option<Drift>, StoreError> {
        Ok(None)
    }

    /// Applies resolutions found outside an event (a state refresh: `accepted`, `applied`,
    /// `gone`) in one transaction with their `resolve` notifications; returns the drifts
    /// resolved.
    fn resolve_drifts(&self, _resolutions: &[Resolution]) -> Result<Vec<Drift>, StoreError> {
        Ok(Vec::new())
    }

    /// Every resolved drift episode still stored, with how long it was open (the
    /// time-to-resolve histogram of `/metrics`). The default has none.
    fn drift_resolved_spans(&self) -> Result<Vec<crate::drift::ResolvedSpan>, StoreError> {
        Ok(Vec::new())
    }

    /// The issue standing for `drift_id` in the issue-tracker channel `channel` (GitHub,
    /// GitLab). The default (stores without links) knows none: the channel then finds the
    /// issue by its hidden marker.
    fn issue_link(&self, _channel: &str, _drift_id: &str) -> Result<Option<IssueLink>, StoreError> {
        Ok(None)
    }

    /// Records (replaces) an issue link. The default keeps nothing.
    fn put_issue_link(&self, _link: &IssueLink) -> Result<(), StoreError> {
        Ok(())
    }

    /// Records a reconcile run (durable on return), keeping the newest
    /// [`workspace_runs::KEEP_PER_WORKSPACE`] per workspace; returns its row id.
    fn record_workspace_run(&self, _run: &WorkspaceRun) -> Result<i64, StoreError> {
        Err(StoreError::Config(
            "this store keeps no reconcile runs (use the SQLite or PostgreSQL store)".into(),
        ))
    }

    /// The latest reconcile run of every workspace, by label (the status board).
    fn latest_workspace_runs(&self) -> Result<Vec<WorkspaceRun>, StoreError> {
        Ok(Vec::new())
    }

    /// A workspace's reconcile runs, newest first, at most `limit`.
    fn workspace_runs(
        &self,
        _workspace: &str,
        _limit: usize,
    ) -> Result<Vec<WorkspaceRun>, StoreError> {
        Ok(Vec::new())
    }

    /// Stores a remediation request (durable on return) and marks the pending requests of the
    /// same drift superseded, in one transaction; returns its id.
    fn insert_remediation(&self, _r: &crate::remediation::Remediation) -> Result<i64, StoreError> {
        Err(StoreError::Config(
            "this store keeps no remediations (use the SQLite or PostgreSQL store)".into(),
        ))
    }

    /// One remediation request.
    fn remediation(&self, _id: i64) -> Result<Option<crate::remediation::Remediation>, StoreError> {
        Ok(None)
    }

    /// Remediation requests (of one drift, or all), newest first, at most `limit`.
    fn remediations(
        &self,
        _drift_id: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<crate::remediation::Remediation>, StoreError> {
        Ok(Vec::new())
    }

    /// Writes a request's status, approvers, decision, output and reason if its stored status
    /// is still `from` (a compare-and-set: two approvals cannot both apply); false otherwise.
    fn update_remediation(
        &self,
        _r: &crate::remediation::Remediation,
        _from: crate::remediation::Status,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Deletes everything older than `older_than`: processed-event marks, alerts (with their
    /// acks), history, delivered/failed outbox items, expired snoozes.
    fn prune(&self, older_than: DateTime<Utc>) -> Result<Pruned, StoreError>;
}
