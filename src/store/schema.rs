//! Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
//!
//! Append new migrations, never edit old ones: a database written by an older tfdrift is
//! upgraded in place, one written by a newer one is refused (see `StoreError::TooNew`). Times
//! are INTEGER milliseconds since the Unix epoch (UTC) so range scans stay index-only.

use rusqlite::Connection;

/// Ordered migrations; the database's `user_version` is the number already applied.
pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r"
CREATE TABLE events_seen (
    key        TEXT PRIMARY KEY,         -- event id, or 'op:' + GCP operation id
    event_time INTEGER,
    seen_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_seen_at ON events_seen (seen_at);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    time             INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL,
    provider         TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    resource_address TEXT,
    fingerprint      TEXT NOT NULL,
    actor_principal  TEXT,
    actor_arn        TEXT,
    actor_email      TEXT,
    event_id         TEXT NOT NULL,
    event_name       TEXT NOT NULL,
    recorded_at      INTEGER NOT NULL,
    json             TEXT NOT NULL
);
CREATE INDEX alerts_time ON alerts (time);
CREATE INDEX alerts_resource ON alerts (resource_type, resource_id, time);
CREATE INDEX alerts_address ON alerts (resource_address);
CREATE INDEX alerts_fingerprint ON alerts (fingerprint);
CREATE INDEX alerts_actor_principal ON alerts (actor_principal);
CREATE INDEX alerts_actor_arn ON alerts (actor_arn);
CREATE INDEX alerts_actor_email ON alerts (actor_email);

CREATE TABLE acks (
    id          INTEGER PRIMARY KEY,
    alert_id    TEXT,
    fingerprint TEXT,
    who         TEXT NOT NULL,
    note        TEXT,
    at          INTEGER NOT NULL,
    CHECK ((alert_id IS NULL) <> (fingerprint IS NULL))
);
CREATE INDEX acks_alert ON acks (alert_id);
CREATE INDEX acks_fingerprint ON acks (fingerprint);

CREATE TABLE snoozes (
    id          INTEGER PRIMARY KEY,
    alert_id    TEXT,
    fingerprint TEXT,
    who         TEXT NOT NULL,
    until       INTEGER NOT NULL,
    note        TEXT,
    at          INTEGER NOT NULL,
    CHECK ((alert_id IS NULL) <> (fingerprint IS NULL))
);
CREATE INDEX snoozes_alert ON snoozes (alert_id, until);
CREATE INDEX snoozes_fingerprint ON snoozes (fingerprint, until);

CREATE TABLE history (
    id           INTEGER PRIMARY KEY,
    resource_key TEXT NOT NULL,
    time         INTEGER NOT NULL,
    address      TEXT,
    actor        TEXT,
    kind         TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    alert_id     TEXT NOT NULL
);
CREATE INDEX history_resource ON history (resource_key, time);
CREATE INDEX history_actor ON history (actor, time);
CREATE INDEX history_time ON history (time);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    alert_id        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    last_error      TEXT,
    delivered_at    INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_alert ON outbox (alert_id);
",
    // 2: drop the alert indexes no query uses (every alert insert paid for five extra b-trees);
    // index `recorded_at`, which the hourly prune deletes by (a full scan of a large alert table
    // would hold the store, and so the engine, for seconds).
    r"
DROP INDEX IF EXISTS alerts_resource;
DROP INDEX IF EXISTS alerts_address;
DROP INDEX IF EXISTS alerts_actor_principal;
DROP INDEX IF EXISTS alerts_actor_arn;
DROP INDEX IF EXISTS alerts_actor_email;
CREATE INDEX alerts_recorded ON alerts (recorded_at);
",
    // 3: the drift lifecycle (see `crate::drift`): one row per drift key, its status and how it
    // ended; one row per thing that happened to it. Times here are RFC 3339 text (the agreed
    // shape shared with the team-mode API); `channels` lists the channels told about the
    // current episode, which are told when it ends.
    r"
CREATE TABLE drifts (
    id              TEXT PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    rtype           TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    address         TEXT,
    attribute       TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('open', 'acknowledged', 'snoozed', 'resolved')),
    snoozed_until   TEXT,
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    occurrences     INTEGER NOT NULL,
    episode         INTEGER NOT NULL,
    actors          TEXT NOT NULL,
    observed        TEXT NOT NULL,
    state_value     TEXT NOT NULL,
    severity        TEXT NOT NULL,
    rules           TEXT NOT NULL,
    last_alert_id   TEXT NOT NULL,
    resolved_at     TEXT,
    resolved_reason TEXT
                    CHECK (resolved_reason IS NULL OR resolved_reason IN
                           ('reverted', 'applied', 'accepted', 'gone', 'reconciled', 'manual')),
    resolved_by     TEXT,
    updated_at      TEXT NOT NULL,
    channels        TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX drifts_status ON drifts (status, last_seen);
CREATE INDEX drifts_address ON drifts (address);
CREATE INDEX drifts_resource ON drifts (rtype, resource_id);

CREATE TABLE drift_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    drift_id TEXT NOT NULL,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL
             CHECK (kind IN ('opened', 'occurred', 'severity_raised', 'acknowledged', 'snoozed',
                             'resolved', 'reopened')),
    who      TEXT,
    reason   TEXT,
    note     TEXT,
    alert_id TEXT
);
CREATE INDEX drift_events_drift ON drift_events (drift_id, id);
",
    // 4: the team-mode journal (see below).
    MIGRATION_CHANGES,
    // 5: who holds an outbox lease (`host/pid/start`), so that at start-up the leases of a
    // process that died (a `kill -9` mid-delivery) are taken back at once instead of after
    // the lease, while the leases of a live process sharing the store are left alone.
    r"
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
",
    // 6: drift → issue links of the GitHub / GitLab channels (see `super::issue_links`).
    super::issue_links::MIGRATION_ISSUE_LINKS,
    // 7: reconcile runs per workspace (the status board), see `workspace_runs`.
    super::workspace_runs::MIGRATION,
    // 8: remediation requests (restore / accept behind approval), see `remediations`.
    super::remediations::MIGRATION,
];

/// Migration 4, the team-mode change journal: every alert, acknowledgement and snooze gets a
/// row in `changes` from a trigger, in the writer's own transaction, so whichever code path
/// writes (engine, CLI, API, a second process) the journal cannot miss it. `cursor` is
/// AUTOINCREMENT: never reused, and SQLite's single writer makes cursors visible in order, so
/// "everything after cursor N" has no gap. `acks.comment` holds the free-text note of an action
/// (the `note` column carries the status marker the monitor reads: ack, resolved, reopened).
/// Kept in its own constant so it applies after the drift model's migration 3 whichever branch
/// lands first.
pub const MIGRATION_CHANGES: &str = r"
CREATE TABLE changes (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,             -- 'alert' | 'ack' | 'snooze' | 'drift'
    ref    TEXT NOT NULL              -- alert id, acks.id, snoozes.id, drift_events.id
);
CREATE INDEX changes_at ON changes (at);
ALTER TABLE acks ADD COLUMN comment TEXT;
CREATE TRIGGER changes_alert AFTER INSERT ON alerts BEGIN
    INSERT INTO changes (at, kind, ref) VALUES (NEW.recorded_at, 'alert', NEW.id);
END;
CREATE TRIGGER changes_ack AFTER INSERT ON acks BEGIN
    INSERT INTO changes (at, kind, ref) VALUES (NEW.at, 'ack', CAST(NEW.id AS TEXT));
END;
CREATE TRIGGER changes_snooze AFTER INSERT ON snoozes BEGIN
    INSERT INTO changes (at, kind, ref) VALUES (NEW.at, 'snooze', CAST(NEW.id AS TEXT));
END;
-- A drift event's `at` is when the change happened (it can be days old, from a backfill); the
-- journal's is when it was written, which its prune relies on.
CREATE TRIGGER changes_drift AFTER INSERT ON drift_events BEGIN
    INSERT INTO changes (at, kind, ref)
    VALUES (CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER), 'drift',
            CAST(NEW.id AS TEXT));
END;
";

/// The newest schema version this build knows.
#[must_use]
pub fn latest() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Reads `user_version`.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every migration after `from`, each in its own transaction together with the version
/// bump, so a crash mid-upgrade leaves a database at a well-defined version.
pub fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let v = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if v <= from {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", v)?;
        tx.commit()?;
    }
    Ok(())
}
