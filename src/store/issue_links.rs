//! Which issue in an issue tracker (GitHub, GitLab) stands for which drift, per channel: the
//! `issue_links` table (its own migration, see [`MIGRATION_ISSUE_LINKS`]).
//!
//! The outbox delivers at least once: a crash between the tracker's answer and the outbox's
//! `delivered` mark sends the same item again. The link makes a redelivery a no-op (the item's
//! key is remembered as `last_sent`) and turns a later message about the drift into a comment on,
//! a close or a reopening of *its* issue instead of a new one. A crash between the tracker's
//! answer and the link's write is covered by the channel, which looks for the drift's hidden
//! marker among the repository's issues before it creates one.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::sqlite::{from_ms, ms};

/// The migration creating `issue_links`. Kept in its own constant (numbered after the other
/// helpers' migrations at merge time: it only creates a table nothing else reads).
pub const MIGRATION_ISSUE_LINKS: &str = r"
CREATE TABLE IF NOT EXISTS issue_links (
    channel      TEXT NOT NULL,
    drift_id     TEXT NOT NULL,
    number       INTEGER NOT NULL,     -- GitHub issue number / GitLab issue iid
    state        TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    episode      INTEGER NOT NULL,     -- the drift episode the issue was last opened for
    last_sent    TEXT,                 -- key of the last message applied (redelivery: no-op)
    commented_at INTEGER,              -- last occurrence comment, ms since the epoch
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (channel, drift_id)
) WITHOUT ROWID;
";

/// One drift's issue in one channel's tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueLink {
    /// The channel (profile name).
    pub channel: String,
    /// The drift.
    pub drift_id: String,
    /// Issue number (GitHub) or iid (GitLab).
    pub number: u64,
    /// Whether tfdrift last left it open.
    pub open: bool,
    /// The drift episode it was last opened (or reopened) for.
    pub episode: u32,
    /// Key of the last message applied to it.
    pub last_sent: Option<String>,
    /// When tfdrift last commented an occurrence on it.
    pub commented_at: Option<DateTime<Utc>>,
}

/// The link of `drift_id` in `channel`.
pub(super) fn get(
    conn: &Connection,
    channel: &str,
    drift_id: &str,
) -> rusqlite::Result<Option<IssueLink>> {
    conn.prepare_cached(
        "SELECT number, state, episode, last_sent, commented_at FROM issue_links \
         WHERE channel = ?1 AND drift_id = ?2",
    )?
    .query_row(params![channel, drift_id], |r| {
        let state: String = r.get(1)?;
        Ok(IssueLink {
            channel: channel.to_string(),
            drift_id: drift_id.to_string(),
            number: r.get::<_, i64>(0)?.try_into().unwrap_or(0),
            open: state == "open",
            episode: r.get::<_, i64>(2)?.try_into().unwrap_or(1),
            last_sent: r.get(3)?,
            commented_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
        })
    })
    .optional()
}

/// Writes (inserts or replaces) a link.
pub(super) fn put(conn: &Connection, l: &IssueLink, now: DateTime<Utc>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO issue_links \
         (channel, drift_id, number, state, episode, last_sent, commented_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        l.channel,
        l.drift_id,
        i64::try_from(l.number).unwrap_or(i64::MAX),
        if l.open { "open" } else { "closed" },
        i64::from(l.episode),
        l.last_sent,
        l.commented_at.map(ms),
        ms(now),
    ])?;
    Ok(())
}

/// Deletes the links of drifts that no longer exist (pruned).
pub(super) fn prune(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM issue_links WHERE drift_id NOT IN (SELECT id FROM drifts)",
        [],
    )
}
