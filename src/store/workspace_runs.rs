//! Reconcile runs (schema migration 7): one row per workspace per `terraform plan
//! -refresh-only`, for the status board (`tfdrift workspaces`) and the reconcile metrics. Kept
//! in its own constant and file so it applies whichever other migration lands beside it.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::sqlite::{SqliteStore, from_ms, ms};

/// Migration 7: the `workspace_runs` table.
pub const MIGRATION: &str = r"
CREATE TABLE workspace_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace    TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    result       TEXT NOT NULL CHECK (result IN ('in_sync', 'drifted', 'error')),
    drifted      INTEGER NOT NULL DEFAULT 0,
    unattributed INTEGER NOT NULL DEFAULT 0,
    ignored      INTEGER NOT NULL DEFAULT 0,
    resolved     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    report       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX workspace_runs_ws ON workspace_runs (workspace, id);
";

/// Runs kept per workspace (older ones are deleted as new ones are written).
pub const KEEP_PER_WORKSPACE: i64 = 200;

/// The outcome of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Terraform found nothing changed outside it.
    InSync,
    /// Terraform found drift.
    Drifted,
    /// The plan did not complete (credentials, lock, configuration, timeout): never "in sync".
    Error,
}

impl RunResult {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::InSync => "in_sync",
            RunResult::Drifted => "drifted",
            RunResult::Error => "error",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "in_sync" => RunResult::InSync,
            "drifted" => RunResult::Drifted,
            _ => RunResult::Error,
        }
    }
}

/// One stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceRun {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// The workspace's board label.
    pub workspace: String,
    /// When the plan started.
    pub started_at: DateTime<Utc>,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
    /// Outcome.
    pub result: RunResult,
    /// Drifted attributes (and deleted resources) found.
    pub drifted: u64,
    /// Of those, how many no event explains ("no event seen").
    pub unattributed: u64,
    /// Drift suppressed by `lifecycle.ignore_changes`.
    pub ignored: u64,
    /// Open drifts this run found in sync and resolved (`reconciled`).
    pub resolved: u64,
    /// The first lines of the error, when the result is an error.
    pub error: Option<String>,
    /// The run's full report (JSON).
    pub report: serde_json::Value,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkspaceRun> {
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.try_into().unwrap_or(0)) };
    Ok(WorkspaceRun {
        id: r.get(0)?,
        workspace: r.get(1)?,
        started_at: from_ms(r.get(2)?),
        duration_ms: n(3)?,
        result: RunResult::parse(&r.get::<_, String>(4)?),
        drifted: n(5)?,
        unattributed: n(6)?,
        ignored: n(7)?,
        resolved: n(8)?,
        error: r.get(9)?,
        report: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
    })
}

const COLS: &str = "id, workspace, started_at, duration_ms, result, drifted, unattributed, \
    ignored, resolved, error, report";

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Records a run (durable on return) and trims the workspace's history to
    /// [`KEEP_PER_WORKSPACE`] runs; returns the row id.
    pub(super) fn insert_workspace_run(&self, run: &WorkspaceRun) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(self.err("record reconcile run"))?;
        tx.execute(
            &format!(
                "INSERT INTO workspace_runs ({COLS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                run.workspace,
                ms(run.started_at),
                i(run.duration_ms),
                run.result.as_str(),
                i(run.drifted),
                i(run.unattributed),
                i(run.ignored),
                i(run.resolved),
                run.error,
                run.report.to_string(),
            ],
        )
        .map_err(self.err("record reconcile run"))?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM workspace_runs WHERE workspace = ?1 AND id <= \
             (SELECT id FROM workspace_runs WHERE workspace = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![run.workspace, KEEP_PER_WORKSPACE],
        )
        .map_err(self.err("trim reconcile runs"))?;
        tx.commit().map_err(self.err("record reconcile run"))?;
        Ok(id)
    }

    /// The latest run of every workspace, by label.
    pub(super) fn read_latest_workspace_runs(&self) -> Result<Vec<WorkspaceRun>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM workspace_runs WHERE id IN \
                 (SELECT MAX(id) FROM workspace_runs GROUP BY workspace) ORDER BY workspace"
            ))
            .map_err(self.err("read reconcile runs"))?;
        st.query_map([], row)
            .and_then(Iterator::collect)
            .map_err(self.err("read reconcile runs"))
    }

    /// A workspace's runs, newest first, at most `limit`.
    pub(super) fn read_workspace_runs(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<WorkspaceRun>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM workspace_runs WHERE workspace = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(self.err("read reconcile runs"))?;
        st.query_map(params![workspace, super::sqlite::limit_i64(limit)], row)
            .and_then(Iterator::collect)
            .map_err(self.err("read reconcile runs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store as _;

    fn run(ws: &str, result: RunResult, at: i64) -> WorkspaceRun {
        WorkspaceRun {
            id: 0,
            workspace: ws.into(),
            started_at: from_ms(at),
            duration_ms: 1200,
            result,
            drifted: 3,
            unattributed: 1,
            ignored: 0,
            resolved: 0,
            error: (result == RunResult::Error).then(|| "No valid credential sources found".into()),
            report: serde_json::json!({"k": 1}),
        }
    }

    #[test]
    fn latest_per_workspace_and_trim() {
        let s = SqliteStore::open(std::path::Path::new(":memory:")).unwrap();
        s.record_workspace_run(&run("a", RunResult::Drifted, 1000))
            .unwrap();
        s.record_workspace_run(&run("a", RunResult::Error, 2000))
            .unwrap();
        s.record_workspace_run(&run("b", RunResult::InSync, 1500))
            .unwrap();
        let latest = s.latest_workspace_runs().unwrap();
        assert_eq!(latest.len(), 2);
        assert_eq!(latest[0].workspace, "a");
        assert_eq!(latest[0].result, RunResult::Error);
        assert_eq!(
            latest[0].error.as_deref(),
            Some("No valid credential sources found")
        );
        assert_eq!(latest[1].result, RunResult::InSync);
        assert_eq!(latest[0].report, serde_json::json!({"k": 1}));
        for n in 0..(KEEP_PER_WORKSPACE + 5) {
            s.record_workspace_run(&run("c", RunResult::InSync, n))
                .unwrap();
        }
        let kept = s.workspace_runs("c", 1000).unwrap();
        assert_eq!(i64::try_from(kept.len()).unwrap(), KEEP_PER_WORKSPACE);
        assert_eq!(kept[0].started_at, from_ms(KEEP_PER_WORKSPACE + 4));
    }
}
