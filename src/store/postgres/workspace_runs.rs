//! PostgreSQL side of the reconcile runs (`workspace_runs`, schema version 7, the same meaning
//! as SQLite's: see [`crate::store::workspace_runs`]).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{from_ms, ms};
use crate::store::WorkspaceRun;
use crate::store::workspace_runs::{KEEP_PER_WORKSPACE, RunResult};

type PgResult<T> = Result<T, tokio_postgres::Error>;

const COLS: &str = "id, workspace, started_at, duration_ms, result, drifted, unattributed, \
    ignored, resolved, error, report";

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row(r: &Row) -> WorkspaceRun {
    let n = |i: usize| -> u64 { r.get::<_, i64>(i).try_into().unwrap_or(0) };
    let result = match r.get::<_, String>(4).as_str() {
        "in_sync" => RunResult::InSync,
        "drifted" => RunResult::Drifted,
        _ => RunResult::Error,
    };
    WorkspaceRun {
        id: r.get(0),
        workspace: r.get(1),
        started_at: from_ms(r.get(2)),
        duration_ms: n(3),
        result,
        drifted: n(5),
        unattributed: n(6),
        ignored: n(7),
        resolved: n(8),
        error: r.get(9),
        report: serde_json::from_str(&r.get::<_, String>(10)).unwrap_or_default(),
    }
}

/// Records a run and trims the workspace's history; returns the row id.
pub(super) async fn record(c: &mut deadpool_postgres::Client, run: &WorkspaceRun) -> PgResult<i64> {
    let tx = c.transaction().await?;
    let report = run.report.to_string();
    let id: i64 = tx
        .query_one(
            "INSERT INTO workspace_runs (workspace, started_at, duration_ms, result, drifted, \
             unattributed, ignored, resolved, error, report) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &run.workspace,
                &ms(run.started_at),
                &i(run.duration_ms),
                &run.result.as_str(),
                &i(run.drifted),
                &i(run.unattributed),
                &i(run.ignored),
                &i(run.resolved),
                &run.error,
                &report,
            ],
        )
        .await?
        .get(0);
    tx.execute(
        "DELETE FROM workspace_runs WHERE workspace = $1 AND id <= \
         (SELECT id FROM workspace_runs WHERE workspace = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        &[&run.workspace, &KEEP_PER_WORKSPACE],
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The latest run of every workspace, by label.
pub(super) async fn latest(c: &impl GenericClient) -> PgResult<Vec<WorkspaceRun>> {
    Ok(c.query(
        &format!(
            "SELECT {COLS} FROM workspace_runs WHERE id IN \
                 (SELECT MAX(id) FROM workspace_runs GROUP BY workspace) ORDER BY workspace"
        ),
        &[],
    )
    .await?
    .iter()
    .map(row)
    .collect())
}

/// A workspace's runs, newest first, at most `limit`.
pub(super) async fn list(
    c: &impl GenericClient,
    workspace: &str,
    limit: i64,
) -> PgResult<Vec<WorkspaceRun>> {
    Ok(c.query(
        &format!(
            "SELECT {COLS} FROM workspace_runs WHERE workspace = $1 ORDER BY id DESC LIMIT $2"
        ),
        &[&workspace, &limit],
    )
    .await?
    .iter()
    .map(row)
    .collect())
}
