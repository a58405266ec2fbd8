//! [`SqliteStore`]: the embedded store, one SQLite file in WAL mode.
//!
//! Why `synchronous=FULL`: in WAL mode `NORMAL` already survives `kill -9` (a commit is in the
//! OS page cache when it returns), but may lose the last commits on power loss or a kernel
//! crash. "Reported as written" must hold for those too, so every commit fsyncs the WAL. Writes
//! are rare (alerting events, acks), and the engine groups whatever it drained at once into one
//! transaction ([`Store::record_batch`]): an fsync per group, not per alert, under load.
//!
//! One connection behind a mutex: SQLite serialises writers anyway, and the hot reads
//! (history, seen) are index lookups of a few microseconds.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::schema;
use super::sqlite_history::{self, INSERT_HISTORY, INSERT_SEEN, insert_history, record_one};
use super::{
    Ack, DriftAction, DriftFilter, EventRecord, HistoryEntry, HistorySummary, OutboxEntry,
    OutboxItem, OutboxStatus, Pruned, Snooze, Store, StoreError, Target, fingerprint,
};
use crate::alert::Alert;
use crate::drift::{Drift, DriftEvent, Input, Reason, Resolution};

/// How long a writer waits for another process's lock before reporting "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The embedded SQLite store.
pub struct SqliteStore {
    /// Shown in every error so the user knows which file to look at.
    path: String,
    conn: Mutex<Connection>,
}

/// Milliseconds since the epoch: the stored time format.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Back from stored milliseconds (out-of-range values clamp to the epoch).
pub(super) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

impl SqliteStore {
    /// Opens or creates the database at `path` (`:memory:` for a private in-memory one),
    /// creating its directory and applying migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let display = path.display().to_string();
        let memory = display == ":memory:";
        if !memory
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: display.clone(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: display.clone(),
            source,
        };
        let mut conn = if memory {
            Connection::open_in_memory()
        } else {
            Connection::open(path)
        }
        .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        if !memory {
            let mode: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(open_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path.display(), mode = %mode, "SQLite refused WAL mode; continuing with the rollback journal");
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        // 32 MiB of page cache (SQLite's default is 2 MiB): the history and dedupe lookups of
        // every alert then stay in memory instead of a pread per page.
        conn.pragma_update(None, "cache_size", -32_768)
            .map_err(open_err)?;
        // More distinct statements than rusqlite's default cache of 16 run on the hot path
        // (dedupe, history, actor, three inserts, outbox, acks …): an evicted one is parsed
        // and planned again, which cost the engine more than the queries themselves.
        conn.set_prepared_statement_cache_capacity(64);
        // Query-planner stability: without it this SQLite (built with STAT4) marks statements
        // with range or LIMIT parameters for re-planning whenever they are rebound, and the
        // statement cache's clear_bindings then re-parsed the history queries on every alert
        // (measured: 15% of the engine's time). Our plans never depend on the values.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(open_err)?;
        let found = schema::version(&conn).map_err(open_err)?;
        let known = schema::latest();
        if found > known {
            return Err(StoreError::TooNew {
                path: display,
                found,
                known,
            });
        }
        schema::migrate(&mut conn, found).map_err(open_err)?;
        Ok(SqliteStore {
            path: display,
            conn: Mutex::new(conn),
        })
    }

    /// The database path as given.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half transaction behind (SQLite rolls back
        // on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn err(&self, op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        let path = self.path.clone();
        move |source| StoreError::Sql { path, op, source }
    }

    /// `PRAGMA integrity_check` result (`ok` when healthy); for tests and `doctor`-style checks.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.err("integrity check"))
    }

    /// Inserts history rows directly (bulk imports, benchmarks); one transaction.
    pub fn insert_history(&self, rows: &[HistoryEntry]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err("begin"))?;
        {
            let mut st = tx
                .prepare_cached(INSERT_HISTORY)
                .map_err(self.err("insert history"))?;
            for h in rows {
                insert_history(&mut st, h).map_err(self.err("insert history"))?;
            }
        }
        tx.commit().map_err(self.err("commit"))
    }

    fn parse_alert(&self, id: &str, json: &str) -> Result<Alert, StoreError> {
        serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
            path: self.path.clone(),
            id: id.to_string(),
            source,
        })
    }
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

pub(super) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl Store for SqliteStore {
    fn is_seen(&self, key: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT 1 FROM events_seen WHERE key = ?1")
            .map_err(self.err("dedupe lookup"))?;
        st.exists([key]).map_err(self.err("dedupe lookup"))
    }

    fn record_event(&self, key: &str, time: Option<DateTime<Utc>>) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .prepare_cached(INSERT_SEEN)
            .and_then(|mut st| st.execute(params![key, time.map(ms), ms(Utc::now())]))
            .map_err(self.err("record event"))?;
        Ok(n == 1)
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
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("begin"))?;
        let mut done = Vec::with_capacity(batch.len());
        for rec in batch {
            done.push(record_one(&tx, rec, now).map_err(|(op, e)| self.err(op)(e))?);
        }
        tx.commit().map_err(self.err("commit"))?;
        Ok(done)
    }

    fn history_summary(
        &self,
        resource_key: &str,
        until: DateTime<Utc>,
        recent: usize,
        cap: usize,
    ) -> Result<HistorySummary, StoreError> {
        sqlite_history::summary(&self.conn(), resource_key, until, recent, cap)
            .map_err(self.err("read history"))
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        let json: Option<String> = self
            .conn()
            .query_row("SELECT json FROM alerts WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.err("read alert"))?;
        json.map(|j| self.parse_alert(id, &j)).transpose()
    }

    fn recent_alerts(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<(String, String)> = {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(
                    "SELECT id, json FROM alerts WHERE time >= ?1 ORDER BY time DESC, id LIMIT ?2",
                )
                .map_err(self.err("read alerts"))?;
            st.query_map(params![ms(since), limit_i64(limit)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(Iterator::collect)
            .map_err(self.err("read alerts"))?
        };
        rows.iter().map(|(id, j)| self.parse_alert(id, j)).collect()
    }

    fn history(
        &self,
        resource_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        sqlite_history::resource(&self.conn(), resource_key, since)
            .map_err(self.err("read history"))
    }

    fn actor_recent(
        &self,
        actor: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        sqlite_history::actor_recent(&self.conn(), actor, since, limit)
            .map_err(self.err("read actor history"))
    }

    fn ack(
        &self,
        target: &Target,
        who: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (a, f) = target_cols(target);
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("begin"))?;
        tx.execute(
            "INSERT INTO acks (alert_id, fingerprint, who, note, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a, f, who, note, ms(at)],
        )
        .map_err(self.err("record acknowledgement"))?;
        let id = tx.last_insert_rowid();
        if note != Some(super::NOTE_REOPENED) {
            // Acknowledged or resolved: resolve the incidents its triggers opened, atomically
            // with the ack (a crash cannot keep one without the other).
            super::sqlite_outbox::enqueue_resolves(&tx, a, f, ms(Utc::now()))
                .map_err(self.err("enqueue resolve"))?;
        }
        tx.commit().map_err(self.err("commit"))?;
        Ok(id)
    }

    fn acks_for(&self, alert: &Alert) -> Result<Vec<Ack>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT id, alert_id, fingerprint, who, note, at FROM acks \
                 WHERE alert_id = ?1 OR fingerprint = ?2 ORDER BY at, id",
            )
            .map_err(self.err("read acknowledgements"))?;
        st.query_map(params![alert.id, fingerprint(alert)], |r| {
            Ok(Ack {
                id: r.get(0)?,
                target: target_of(r.get(1)?, r.get(2)?),
                who: r.get(3)?,
                note: r.get(4)?,
                at: from_ms(r.get(5)?),
            })
        })
        .and_then(Iterator::collect)
        .map_err(self.err("read acknowledgements"))
    }

    fn snooze(
        &self,
        target: &Target,
        who: &str,
        until: DateTime<Utc>,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (a, f) = target_cols(target);
        let conn = self.conn();
        conn.execute(
            "INSERT INTO snoozes (alert_id, fingerprint, who, until, note, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![a, f, who, ms(until), note, ms(at)],
        )
        .map_err(self.err("record snooze"))?;
        Ok(conn.last_insert_rowid())
    }

    fn snoozed(&self, alert: &Alert, now: DateTime<Utc>) -> Result<Option<Snooze>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT id, alert_id, fingerprint, who, until, note, at FROM snoozes \
                 WHERE (alert_id = ?1 OR fingerprint = ?2) AND until > ?3 ORDER BY until DESC LIMIT 1",
            )
            .map_err(self.err("read snoozes"))?;
        st.query_row(params![alert.id, fingerprint(alert), ms(now)], |r| {
            Ok(Snooze {
                id: r.get(0)?,
                target: target_of(r.get(1)?, r.get(2)?),
                who: r.get(3)?,
                until: from_ms(r.get(4)?),
                note: r.get(5)?,
                at: from_ms(r.get(6)?),
            })
        })
        .optional()
        .map_err(self.err("read snoozes"))
    }

    fn outbox_enqueue(&self, items: &[OutboxItem], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err("begin"))?;
        super::sqlite_outbox::enqueue(&tx, items, ms(now)).map_err(self.err("enqueue"))?;
        tx.commit().map_err(self.err("commit"))
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
        let mut conn = self.conn();
        super::sqlite_outbox::claim(&mut conn, owner, ms(now), limit_i64(limit), ms(now + lease))
            .map_err(self.err("claim outbox items"))
    }

    fn outbox_release_dead(
        &self,
        dead: &dyn Fn(Option<&str>) -> bool,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        super::sqlite_outbox::release_dead(&mut self.conn(), dead, ms(now))
            .map_err(self.err("take back the leases of dead workers"))
    }

    fn outbox_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, ms(at)],
            )
            .map(drop)
            .map_err(self.err("mark outbox item delivered"))
    }

    fn outbox_retry_at(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, ms(at), error],
            )
            .map(drop)
            .map_err(self.err("reschedule outbox item"))
    }

    fn outbox_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE outbox SET status = 'failed', last_error = ?2 WHERE id = ?1",
                params![id, error],
            )
            .map(drop)
            .map_err(self.err("mark outbox item failed"))
    }

    fn outbox_counts(&self) -> Result<Vec<(OutboxStatus, u64)>, StoreError> {
        super::sqlite_outbox::counts(&self.conn()).map_err(self.err("count outbox"))
    }

    fn outbox_counts_by_channel(
        &self,
        status: OutboxStatus,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        super::sqlite_outbox::counts_by_channel(&self.conn(), status)
            .map_err(self.err("count outbox"))
    }

    fn outbox_list(
        &self,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        super::sqlite_outbox::list(&self.conn(), status, limit_i64(limit))
            .map_err(self.err("list outbox"))
    }

    fn outbox_retry_failed(
        &self,
        channel: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, attempts = 0 \
                 WHERE status = 'failed' AND (?1 IS NULL OR channel = ?1)",
                params![channel, ms(now)],
            )
            .map_err(self.err("retry failed outbox items"))
    }

    fn drifts(&self, filter: &DriftFilter) -> Result<Vec<Drift>, StoreError> {
        super::sqlite_drift::list(&self.conn(), filter).map_err(self.err("read drifts"))
    }

    fn drift(&self, id: &str) -> Result<Option<Drift>, StoreError> {
        super::sqlite_drift::get(&self.conn(), id).map_err(self.err("read drift"))
    }

    fn drift_resolved_spans(&self) -> Result<Vec<crate::drift::ResolvedSpan>, StoreError> {
        super::sqlite_drift::resolved_spans(&self.conn())
            .map_err(self.err("read drift resolutions"))
    }

    fn issue_link(
        &self,
        channel: &str,
        drift_id: &str,
    ) -> Result<Option<super::IssueLink>, StoreError> {
        super::issue_links::get(&self.conn(), channel, drift_id)
            .map_err(self.err("read issue link"))
    }

    fn put_issue_link(&self, link: &super::IssueLink) -> Result<(), StoreError> {
        super::issue_links::put(&self.conn(), link, Utc::now())
            .map_err(self.err("write issue link"))
    }

    fn record_workspace_run(&self, run: &super::WorkspaceRun) -> Result<i64, StoreError> {
        self.insert_workspace_run(run)
    }

    fn insert_remediation(&self, r: &crate::remediation::Remediation) -> Result<i64, StoreError> {
        SqliteStore::insert_remediation(self, r)
    }

    fn remediation(&self, id: i64) -> Result<Option<crate::remediation::Remediation>, StoreError> {
        self.read_remediation(id)
    }

    fn remediations(
        &self,
        drift_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::remediation::Remediation>, StoreError> {
        self.read_remediations(drift_id, limit)
    }

    fn update_remediation(
        &self,
        r: &crate::remediation::Remediation,
        from: crate::remediation::Status,
    ) -> Result<bool, StoreError> {
        self.write_remediation(r, from)
    }

    fn latest_workspace_runs(&self) -> Result<Vec<super::WorkspaceRun>, StoreError> {
        self.read_latest_workspace_runs()
    }

    fn workspace_runs(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<super::WorkspaceRun>, StoreError> {
        self.read_workspace_runs(workspace, limit)
    }

    fn drift_events(&self, id: &str) -> Result<Vec<DriftEvent>, StoreError> {
        super::sqlite_drift::events(&self.conn(), id).map_err(self.err("read drift events"))
    }

    fn drift_act(
        &self,
        id: &str,
        action: DriftAction,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Drift>, StoreError> {
        let input = match action {
            DriftAction::Acknowledge => Input::Ack { who, at },
            DriftAction::Snooze(until) => Input::Snooze { who, until, at },
            DriftAction::Resolve => Input::Resolve {
                reason: Reason::Manual,
                who: Some(who),
                at,
                note: None,
            },
        };
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("begin"))?;
        let mut out = Vec::new();
        let d = super::sqlite_drift::act(&tx, id, &input, &mut out)
            .map_err(self.err("update drift"))?;
        super::sqlite_outbox::enqueue(&tx, &out, ms(Utc::now())).map_err(self.err("enqueue"))?;
        tx.commit().map_err(self.err("commit"))?;
        Ok(d)
    }

    fn resolve_drifts(&self, resolutions: &[Resolution]) -> Result<Vec<Drift>, StoreError> {
        if resolutions.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("begin"))?;
        let mut out = Vec::new();
        let mut done = Vec::new();
        for r in resolutions {
            done.extend(
                super::sqlite_drift::resolve(&tx, r, &mut out)
                    .map_err(self.err("resolve drifts"))?,
            );
        }
        super::sqlite_outbox::enqueue(&tx, &out, ms(Utc::now())).map_err(self.err("enqueue"))?;
        tx.commit().map_err(self.err("commit"))?;
        Ok(done)
    }

    fn prune(&self, older_than: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let cutoff = ms(older_than);
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err("begin"))?;
        let mut rows = 0;
        for sql in [
            "DELETE FROM events_seen WHERE seen_at < ?1",
            // Alerts age by when they were recorded, not by their event's time: a backfill or
            // replay of month-old logs must not vanish at the next start.
            "DELETE FROM acks WHERE alert_id IN (SELECT id FROM alerts WHERE recorded_at < ?1)",
            "DELETE FROM acks WHERE fingerprint IS NOT NULL AND at < ?1",
            "DELETE FROM alerts WHERE recorded_at < ?1",
            // History serves the 7 days before an event: rows for older events are useless.
            "DELETE FROM history WHERE time < ?1",
            "DELETE FROM snoozes WHERE until < ?1",
            "DELETE FROM outbox WHERE status IN ('delivered', 'failed') AND created_at < ?1",
        ] {
            rows += tx.execute(sql, [cutoff]).map_err(self.err("prune"))?;
        }
        // Drifts resolved before the cutoff, with their events; unresolved ones stay however
        // old they are (they are still out of line).
        rows += super::sqlite_drift::prune(&tx, older_than).map_err(self.err("prune"))?;
        rows += super::issue_links::prune(&tx).map_err(self.err("prune"))?;
        // The team-mode journal (bookkeeping, not counted): a prefix, so a watcher's cursor is
        // either resumable or before the oldest entry (then it gets a fresh snapshot).
        tx.execute(
            "DELETE FROM changes WHERE cursor <= (SELECT MAX(cursor) FROM changes WHERE at < ?1)",
            [cutoff],
        )
        .map_err(self.err("prune"))?;
        tx.commit().map_err(self.err("commit"))?;
        Ok(Pruned { rows })
    }
}
