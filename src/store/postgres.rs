//! [`PostgresStore`]: the store on a shared PostgreSQL database, selected by
//! `store: {url: postgres://user@host/db, pool: 16}`, so that several tfdrift replicas share
//! dedupe, alerts, history, acks, drifts and the notification outbox.
//!
//! Why this driver, and how it meets the synchronous [`Store`] trait: `tokio-postgres` with a
//! `deadpool-postgres` pool. The trait is synchronous and is called from blocking threads (the
//! engine runs on `spawn_blocking`, the API and the outbox worker wrap calls in
//! `spawn_blocking`) but also, for quick reads, from plain threads and async code; a driver
//! that runs its own runtime per call (`postgres`, `r2d2_postgres`) panics when called inside
//! a Tokio context, and one tied to the caller's runtime cannot be called off it. So the store
//! owns a small private runtime (2 threads) that drives the connections' sockets, and each
//! trait call waits for its future on the calling thread (`futures_executor::block_on` with
//! that runtime entered): correct from any thread, with or without a runtime, like a SQLite
//! call that waits on its file lock. `sqlx` would work the same way but brings its own pool and
//! macros for nothing here.
//!
//! Correctness across replicas:
//! - **each event once**: `events_seen.key` is the primary key and the dedupe mark is
//!   `INSERT … ON CONFLICT DO NOTHING`; a replica whose insert finds the key (committed by
//!   another, or waiting for another's commit) writes nothing of that event;
//! - **writes serialised**: every recording, drift action and prune first locks the single
//!   `journal_head` row (which the journal triggers lock anyway), so drift read-modify-writes
//!   and history order are those of one writer, and no two writers can deadlock. One database
//!   then records one batch at a time — the group commit keeps that cheap;
//! - **each notification once**: claims take due outbox rows `FOR UPDATE SKIP LOCKED` and lease
//!   them until `next_attempt_at`; a dead replica's leases are due again after the lease;
//! - **migrations** run at start in one transaction under `pg_advisory_xact_lock`.
//!
//! TLS: the URL's `sslmode` (`disable`, `prefer` — the default —, `require`) is honoured; when
//! TLS is used the server certificate is verified with rustls against the system's roots
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` add a private CA). Passwords come from `password_env`,
//! `password_file`, the URL or `PGPASSWORD`, and never appear in messages (errors name the
//! server and database only).

mod connect;
mod drift;
mod issue_links;
mod journal;
mod outbox;
mod record;
mod remediations;
mod schema;
mod workspace_runs;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connect::config_err;
use deadpool_postgres::{Pool, PoolError};

use super::{
    Ack, DriftAction, DriftFilter, EventRecord, HistoryEntry, HistorySummary, OutboxEntry,
    OutboxItem, OutboxStatus, Pruned, Snooze, Store, StoreError, StoreSettings, Target,
};
use crate::alert::Alert;
use crate::drift::{Drift, DriftEvent, Resolution};

pub use connect::describe_url;
pub use schema::{MIGRATIONS, latest as latest_version};

/// Connections at most when `store.pool` is not set.
pub const DEFAULT_POOL: usize = 16;

/// How long a call waits for a free connection before reporting the database unreachable.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL store.
pub struct PostgresStore {
    /// `postgres://user@host:port/db`, shown in every error (never the password).
    url: String,
    pool: Pool,
    /// Drives the connections; `None` only while dropping.
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code (the last handle can be
        // dropped there): let its threads wind down on their own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `settings.url`, builds the pool and applies missing migrations (under an
    /// advisory lock: replicas may start together).
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        let (mgr, shown, size) = connect::manager(settings)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tfdrift-postgres")
            .enable_all()
            .build()
            .map_err(|e| config_err(format!("cannot start the PostgreSQL client threads: {e}")))?;
        let pool = {
            let _ctx = rt.enter();
            Pool::builder(mgr)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(WAIT_TIMEOUT))
                .create_timeout(Some(Duration::from_secs(15)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| config_err(format!("cannot build the PostgreSQL pool: {e}")))?
        };
        let store = PostgresStore {
            url: shown,
            pool,
            rt: Some(rt),
        };
        let migrated = store.block(async {
            let mut client = store.client("migrate").await?;
            schema::migrate(&mut client)
                .await
                .map_err(store.err("migrate the schema"))
        })?;
        if let schema::Migrated::TooNew(found) = migrated {
            return Err(StoreError::TooNew {
                path: store.url.clone(),
                found,
                known: schema::latest(),
            });
        }
        tracing::info!(url = %store.url, pool = size, "PostgreSQL store opened");
        Ok(store)
    }

    /// The server and database (no password).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connections open and idle, and the pool's size: for `/metrics`.
    #[must_use]
    pub fn pool_status(&self) -> (usize, usize, usize) {
        let s = self.pool.status();
        (s.size, s.available, s.max_size)
    }

    /// Inserts history rows directly (bulk imports, benchmarks); one transaction.
    pub fn insert_history(&self, rows: &[HistoryEntry]) -> Result<(), StoreError> {
        self.with("insert history", async |c| {
            let tx = c.transaction().await?;
            record::insert_history(&tx, rows).await?;
            tx.commit().await
        })
    }

    /// Runs `f` to completion on this thread, with the private runtime entered so that new
    /// connections and timers land on it.
    fn block<F: Future>(&self, f: F) -> F::Output {
        let _ctx = self.rt.as_ref().map(tokio::runtime::Runtime::enter);
        futures_executor::block_on(f)
    }

    fn err(&self, op: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + use<> {
        let url = self.url.clone();
        move |source| StoreError::Postgres { url, op, source }
    }

    /// A pooled connection.
    async fn client(&self, op: &'static str) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(source) => StoreError::Postgres {
                url: self.url.clone(),
                op,
                source,
            },
            other => StoreError::Pool {
                url: self.url.clone(),
                op,
                reason: other.to_string(),
            },
        })
    }

    /// Runs `f` with a pooled connection, naming `op` in any error.
    fn with<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, tokio_postgres::Error>,
    {
        self.block(async {
            let mut c = self.client(op).await?;
            f(&mut c).await.map_err(self.err(op))
        })
    }

    fn parse_alert(&self, id: &str, json: &str) -> Result<Alert, StoreError> {
        serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
            path: self.url.clone(),
            id: id.to_string(),
            source,
        })
    }
}

/// An error with its causes: `tokio_postgres` says only "db error" or "error connecting to
/// server" and keeps the server's message (and the OS error) in the source chain.
#[must_use]
pub fn error_detail(e: &tokio_postgres::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Milliseconds since the epoch: the stored time format (as on SQLite).
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Back from stored milliseconds.
fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn target_of(alert_id: Option<String>, fp: Option<String>) -> Target {
    match (alert_id, fp) {
        (Some(a), _) => Target::Alert(a),
        (None, f) => Target::Fingerprint(f.unwrap_or_default()),
    }
}

fn target_cols(t: &Target) -> (Option<&str>, Option<&str>) {
    match t {
        Target::Alert(a) => (Some(a.as_str()), None),
        Target::Fingerprint(f) => (None, Some(f.as_str())),
    }
}

/// Takes the writers' lock (the `journal_head` row) for the rest of the transaction.
async fn lock_writers(
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute("SELECT 1 FROM journal_head FOR UPDATE", &[])
        .await
        .map(drop)
}

impl Store for PostgresStore {
    fn is_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.with("dedupe lookup", async |c| {
            let st = c
                .prepare_cached("SELECT 1 FROM events_seen WHERE key = $1")
                .await?;
            Ok(c.query_opt(&st, &[&key]).await?.is_some())
        })
    }

    fn record_event(&self, key: &str, time: Option<DateTime<Utc>>) -> Result<bool, StoreError> {
        self.with("record event", async |c| {
            let st = c.prepare_cached(record::INSERT_SEEN).await?;
            Ok(c.execute(&st, &[&key, &time.map(ms), &ms(Utc::now())])
                .await?
                == 1)
        })
    }

    fn record_alerts(
        &self,
        seen: &[&str],
        time: Option<DateTime<Utc>>,
        alerts: &[Alert],
        outbox: &[OutboxItem],
    ) -> Result<bool, StoreError> {
        let rec = EventRecord {
            seen,
            time,
            alerts,
            outbox,
            drifts: &[],
        };
        Ok(self.record_batch(&[rec])?.first().copied().unwrap_or(false))
    }

    fn record_batch(&self, batch: &[EventRecord<'_>]) -> Result<Vec<bool>, StoreError> {
        let now = ms(Utc::now());
        self.with("record alerts", async |c| {
            let tx = c.transaction().await?;
            lock_writers(&tx).await?;
            let mut done = Vec::with_capacity(batch.len());
            for rec in batch {
                done.push(record::record_one(&tx, rec, now).await?);
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    fn history_summary(
        &self,
        resource_key: &str,
        until: DateTime<Utc>,
        recent: usize,
        cap: usize,
    ) -> Result<HistorySummary, StoreError> {
        self.with("read history", async |c| {
            record::summary(c, resource_key, until, recent, cap).await
        })
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        let json: Option<String> = self.with("read alert", async |c| {
            let st = c
                .prepare_cached("SELECT json FROM alerts WHERE id = $1")
                .await?;
            Ok(c.query_opt(&st, &[&id]).await?.map(|r| r.get(0)))
        })?;
        json.map(|j| self.parse_alert(id, &j)).transpose()
    }

    fn recent_alerts(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<(String, String)> = self.with("read alerts", async |c| {
            let st = c
                .prepare_cached(
                    "SELECT id, json FROM alerts WHERE time >= $1 ORDER BY time DESC, id LIMIT $2",
                )
                .await?;
            Ok(c.query(&st, &[&ms(since), &limit_i64(limit)])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })?;
        rows.iter().map(|(id, j)| self.parse_alert(id, j)).collect()
    }

    fn history(
        &self,
        resource_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.with("read history", async |c| {
            record::resource(c, resource_key, since).await
        })
    }

    fn actor_recent(
        &self,
        actor: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.with("read actor history", async |c| {
            record::actor_recent(c, actor, since, limit).await
        })
    }

    fn ack(
        &self,
        target: &Target,
        who: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.with("record acknowledgement", async |c| {
            let tx = c.transaction().await?;
            let id = record::insert_ack(&tx, target, who, note, None, at).await?;
            if note != Some(super::NOTE_REOPENED) {
                let (a, f) = target_cols(target);
                outbox::enqueue_resolves(&tx, a, f, ms(Utc::now())).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    fn acks_for(&self, alert: &Alert) -> Result<Vec<Ack>, StoreError> {
        self.with("read acknowledgements", async |c| {
            record::acks_for(c, alert).await
        })
    }

    fn snooze(
        &self,
        target: &Target,
        who: &str,
        until: DateTime<Utc>,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.with("record snooze", async |c| {
            record::insert_snooze(&*c, target, who, until, note, at).await
        })
    }

    fn snoozed(&self, alert: &Alert, now: DateTime<Utc>) -> Result<Option<Snooze>, StoreError> {
        self.with("read snoozes", async |c| {
            record::snoozed(c, alert, now).await
        })
    }

    fn outbox_enqueue(&self, items: &[OutboxItem], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with("enqueue", async |c| {
            let tx = c.transaction().await?;
            outbox::enqueue(&tx, items, ms(now)).await?;
            tx.commit().await
        })
    }

    fn outbox_claim(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: chrono::Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_claim_for(None, now, limit, lease)
    }

    fn outbox_claim_for(
        &self,
        owner: Option<&str>,
        now: DateTime<Utc>,
        limit: usize,
        lease: chrono::Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with("claim outbox items", async |c| {
            outbox::claim(c, owner, ms(now), limit_i64(limit), ms(now + lease)).await
        })
    }

    fn outbox_release_dead(
        &self,
        dead: &dyn Fn(Option<&str>) -> bool,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.with("take back the leases of dead workers", async |c| {
            outbox::release_dead(c, dead, ms(now)).await
        })
    }

    fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.with("mark outbox item delivered", async |c| {
            c.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = $2, last_error = NULL WHERE id = $1",
                &[&id, &ms(at)],
            )
            .await
            .map(drop)
        })
    }

    fn outbox_retry_at(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.with("reschedule outbox item", async |c| {
            c.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = $2, last_error = $3 WHERE id = $1",
                &[&id, &ms(at), &error],
            )
            .await
            .map(drop)
        })
    }

    fn outbox_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.with("mark outbox item failed", async |c| {
            c.execute(
                "UPDATE outbox SET status = 'failed', last_error = $2 WHERE id = $1",
                &[&id, &error],
            )
            .await
            .map(drop)
        })
    }

    fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError> {
        self.with("count outbox", async |c| outbox::counts(c).await)
    }

    fn outbox_counts_by_channel(
        &self,
        status: OutboxStatus,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.with("count outbox", async |c| {
            outbox::counts_by_channel(c, status).await
        })
    }

    fn outbox_list(
        &self,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with("list outbox", async |c| {
            outbox::list(c, status, limit_i64(limit)).await
        })
    }

    fn outbox_retry_failed(
        &self,
        channel: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.with("retry failed outbox items", async |c| {
            let n = c
                .execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = $2, attempts = 0 \
                     WHERE status = 'failed' AND ($1::TEXT IS NULL OR channel = $1)",
                    &[&channel, &ms(now)],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn drifts(&self, filter: &DriftFilter) -> Result<Vec<Drift>, StoreError> {
        self.with("read drifts", async |c| drift::list(&*c, filter).await)
    }

    fn drift(&self, id: &str) -> Result<Option<Drift>, StoreError> {
        self.with("read drift", async |c| drift::get(&*c, id).await)
    }

    fn drift_events(&self, id: &str) -> Result<Vec<DriftEvent>, StoreError> {
        self.with("read drift events", async |c| drift::events(&*c, id).await)
    }

    fn drift_resolved_spans(&self) -> Result<Vec<crate::drift::ResolvedSpan>, StoreError> {
        self.with("read resolved drifts", async |c| {
            issue_links::resolved_spans(&*c).await
        })
    }

    fn issue_link(
        &self,
        channel: &str,
        drift_id: &str,
    ) -> Result<Option<super::IssueLink>, StoreError> {
        self.with("read issue link", async |c| {
            issue_links::get(&*c, channel, drift_id).await
        })
    }

    fn put_issue_link(&self, link: &super::IssueLink) -> Result<(), StoreError> {
        self.with("write issue link", async |c| {
            issue_links::put(&*c, link, Utc::now()).await
        })
    }

    fn record_workspace_run(&self, run: &super::WorkspaceRun) -> Result<i64, StoreError> {
        self.with("record reconcile run", async |c| {
            workspace_runs::record(c, run).await
        })
    }

    fn insert_remediation(&self, r: &crate::remediation::Remediation) -> Result<i64, StoreError> {
        self.with("record remediation", async |c| {
            remediations::insert(c, r).await
        })
    }

    fn remediation(&self, id: i64) -> Result<Option<crate::remediation::Remediation>, StoreError> {
        self.with("read remediation", async |c| {
            remediations::get(&*c, id).await
        })
    }

    fn remediations(
        &self,
        drift_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::remediation::Remediation>, StoreError> {
        self.with("read remediations", async |c| {
            remediations::list(&*c, drift_id, limit_i64(limit)).await
        })
    }

    fn update_remediation(
        &self,
        r: &crate::remediation::Remediation,
        from: crate::remediation::Status,
    ) -> Result<bool, StoreError> {
        self.with("update remediation", async |c| {
            remediations::write(&*c, r, from).await
        })
    }

    fn latest_workspace_runs(&self) -> Result<Vec<super::WorkspaceRun>, StoreError> {
        self.with("read reconcile runs", async |c| {
            workspace_runs::latest(&*c).await
        })
    }

    fn workspace_runs(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<super::WorkspaceRun>, StoreError> {
        self.with("read reconcile runs", async |c| {
            workspace_runs::list(&*c, workspace, limit_i64(limit)).await
        })
    }

    fn drift_act(
        &self,
        id: &str,
        action: DriftAction,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Drift>, StoreError> {
        self.with("update drift", async |c| {
            let tx = c.transaction().await?;
            lock_writers(&tx).await?;
            let mut out = Vec::new();
            let d = drift::act(&tx, id, action, who, at, &mut out).await?;
            outbox::enqueue(&tx, &out, ms(Utc::now())).await?;
            tx.commit().await?;
            Ok(d)
        })
    }

    fn resolve_drifts(&self, resolutions: &[Resolution]) -> Result<Vec<Drift>, StoreError> {
        if resolutions.is_empty() {
            return Ok(Vec::new());
        }
        self.with("resolve drifts", async |c| {
            let tx = c.transaction().await?;
            lock_writers(&tx).await?;
            let mut out = Vec::new();
            let mut done = Vec::new();
            for r in resolutions {
                done.extend(drift::resolve(&tx, r, &mut out).await?);
            }
            outbox::enqueue(&tx, &out, ms(Utc::now())).await?;
            tx.commit().await?;
            Ok(done)
        })
    }

    fn prune(&self, older_than: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let cutoff = ms(older_than);
        self.with("prune", async |c| {
            let tx = c.transaction().await?;
            lock_writers(&tx).await?;
            let mut rows = 0u64;
            for sql in [
                "DELETE FROM events_seen WHERE seen_at < $1",
                "DELETE FROM acks WHERE alert_id IN (SELECT id FROM alerts WHERE recorded_at < $1)",
                "DELETE FROM acks WHERE fingerprint IS NOT NULL AND at < $1",
                "DELETE FROM alerts WHERE recorded_at < $1",
                "DELETE FROM history WHERE time < $1",
                "DELETE FROM snoozes WHERE until < $1",
                "DELETE FROM outbox WHERE status IN ('delivered', 'failed') AND created_at < $1",
            ] {
                rows += tx.execute(sql, &[&cutoff]).await?;
            }
            rows += drift::prune(&tx, older_than).await?;
            tx.execute(
                "DELETE FROM changes WHERE cursor <= (SELECT MAX(cursor) FROM changes WHERE at < $1)",
                &[&cutoff],
            )
            .await?;
            tx.commit().await?;
            Ok(Pruned {
                rows: usize::try_from(rows).unwrap_or(usize::MAX),
            })
        })
    }
}
