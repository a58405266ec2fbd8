//! Remediation requests (schema migration 8): one row per request to restore or accept a drift
//! through a saved Terraform plan, with the plan's sha256 and masked text, the requester, the
//! approvers and the apply's masked output (see [`crate::remediation`]). A new request
//! supersedes the pending ones of the same drift in the same transaction; every later change is
//! a compare-and-set on the status, so two approvals racing cannot both apply.

use chrono::Utc;
use rusqlite::{OptionalExtension as _, params};

use super::StoreError;
use super::sqlite::{SqliteStore, from_ms, ms};
use crate::remediation::{Kind, Remediation, Status};

/// Migration 8: the `remediations` table.
pub const MIGRATION: &str = r"
CREATE TABLE remediations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    drift_id          TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('restore', 'accept')),
    note              TEXT NOT NULL DEFAULT '',
    workspace         TEXT NOT NULL,
    address           TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    requested_at      INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    plan_path         TEXT NOT NULL,
    plan_sha256       TEXT NOT NULL,
    plan_text         TEXT NOT NULL,
    drift_fingerprint TEXT NOT NULL,
    status            TEXT NOT NULL,
    approvers         TEXT NOT NULL DEFAULT '[]',
    decided_by        TEXT,
    decided_at        INTEGER,
    output            TEXT NOT NULL DEFAULT '',
    reason            TEXT
);
CREATE INDEX remediations_drift ON remediations (drift_id, id);
";

/// The columns, in the order [`Fields`] and the row readers use.
pub(crate) const COLS: &str = "id, drift_id, kind, note, workspace, address, requested_by, \
    requested_at, expires_at, plan_path, plan_sha256, plan_text, drift_fingerprint, status, \
    approvers, decided_by, decided_at, output, reason";

/// The reason written on the requests a new one supersedes.
#[must_use]
pub fn superseded_reason(newer: i64) -> String {
    format!("a newer request ({newer}) for the same drift")
}

/// A stored row's raw values, shared by both backends' readers.
pub(crate) struct Fields {
    pub id: i64,
    pub drift_id: String,
    pub kind: String,
    pub note: String,
    pub workspace: String,
    pub address: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub expires_at: i64,
    pub plan_path: String,
    pub plan_sha256: String,
    pub plan_text: String,
    pub drift_fingerprint: String,
    pub status: String,
    pub approvers: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub output: String,
    pub reason: Option<String>,
}

impl Fields {
    /// The request these values stand for (an unknown kind reads as restore; an unknown status
    /// as failed, never applicable).
    pub(crate) fn into_remediation(self) -> Remediation {
        Remediation {
            id: self.id,
            drift_id: self.drift_id,
            kind: Kind::parse(&self.kind).unwrap_or(Kind::Restore),
            note: self.note,
            workspace: self.workspace,
            address: self.address,
            requested_by: self.requested_by,
            requested_at: from_ms(self.requested_at),
            expires_at: from_ms(self.expires_at),
            plan_path: self.plan_path,
            plan_sha256: self.plan_sha256,
            plan_text: self.plan_text,
            drift_fingerprint: self.drift_fingerprint,
            status: Status::parse(&self.status),
            approvers: serde_json::from_str(&self.approvers).unwrap_or_default(),
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(from_ms),
            output: self.output,
            reason: self.reason,
        }
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Remediation> {
    Ok(Fields {
        id: r.get(0)?,
        drift_id: r.get(1)?,
        kind: r.get(2)?,
        note: r.get(3)?,
        workspace: r.get(4)?,
        address: r.get(5)?,
        requested_by: r.get(6)?,
        requested_at: r.get(7)?,
        expires_at: r.get(8)?,
        plan_path: r.get(9)?,
        plan_sha256: r.get(10)?,
        plan_text: r.get(11)?,
        drift_fingerprint: r.get(12)?,
        status: r.get(13)?,
        approvers: r.get(14)?,
        decided_by: r.get(15)?,
        decided_at: r.get(16)?,
        output: r.get(17)?,
        reason: r.get(18)?,
    }
    .into_remediation())
}

fn approvers(r: &Remediation) -> String {
    serde_json::to_string(&r.approvers).unwrap_or_else(|_| "[]".into())
}

impl SqliteStore {
    /// Stores a new request (durable on return) and supersedes the pending ones of its drift.
    pub(super) fn insert_remediation(&self, r: &Remediation) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err("record remediation"))?;
        tx.execute(
            &format!(
                "INSERT INTO remediations ({COLS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
                 ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
            ),
            params![
                r.drift_id,
                r.kind.as_str(),
                r.note,
                r.workspace,
                r.address,
                r.requested_by,
                ms(r.requested_at),
                ms(r.expires_at),
                r.plan_path,
                r.plan_sha256,
                r.plan_text,
                r.drift_fingerprint,
                r.status.as_str(),
                approvers(r),
                r.decided_by,
                r.decided_at.map(ms),
                r.output,
                r.reason,
            ],
        )
        .map_err(self.err("record remediation"))?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE remediations SET status = 'superseded', reason = ?1, decided_at = ?2 \
             WHERE drift_id = ?3 AND status = 'pending' AND id < ?4",
            params![superseded_reason(id), ms(Utc::now()), r.drift_id, id],
        )
        .map_err(self.err("record remediation"))?;
        tx.commit().map_err(self.err("record remediation"))?;
        Ok(id)
    }

    /// One request.
    pub(super) fn read_remediation(&self, id: i64) -> Result<Option<Remediation>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLS} FROM remediations WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
            .map_err(self.err("read remediation"))
    }

    /// Requests (of one drift, or all), newest first, at most `limit`.
    pub(super) fn read_remediations(
        &self,
        drift_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Remediation>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM remediations WHERE (?1 IS NULL OR drift_id = ?1) \
                 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(self.err("read remediations"))?;
        st.query_map(params![drift_id, super::sqlite::limit_i64(limit)], row)
            .and_then(Iterator::collect)
            .map_err(self.err("read remediations"))
    }

    /// Writes the request's status, approvers, decision, output and reason if its stored status
    /// is still `from`; false when it is not (someone else moved it).
    pub(super) fn write_remediation(
        &self,
        r: &Remediation,
        from: Status,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE remediations SET status = ?1, approvers = ?2, decided_by = ?3, \
                 decided_at = ?4, output = ?5, reason = ?6 WHERE id = ?7 AND status = ?8",
                params![
                    r.status.as_str(),
                    approvers(r),
                    r.decided_by,
                    r.decided_at.map(ms),
                    r.output,
                    r.reason,
                    r.id,
                    from.as_str(),
                ],
            )
            .map_err(self.err("update remediation"))?;
        Ok(n == 1)
    }
}
