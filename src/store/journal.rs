//! The team-mode reads and writes over the store: the `changes` journal (migration 4, filled by
//! triggers) read after a cursor, a snapshot consistent with a cursor, alert listing with
//! paging, and actions (ack / resolve / reopen / snooze) that carry a free-text note.
//!
//! [`Journal`] extends [`Store`] so the API server needs one handle; the embedded
//! [`SqliteStore`] implements it here (a shared server database would implement it too).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sqlite::{from_ms, limit_i64, ms};
pub use super::{NOTE_ACK, NOTE_RESOLVED};
use super::{NOTE_REOPENED, SqliteStore, Store, StoreError, Target};

/// What an alert's acknowledgements and snoozes say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing, or reopened.
    New,
    /// Acknowledged.
    Acknowledged,
    /// Snoozed (muted until a time).
    Snoozed,
    /// Resolved.
    Resolved,
}

impl State {
    /// Lower-case name (`new`, `acknowledged`, `snoozed`, `resolved`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Acknowledged => "acknowledged",
            State::Snoozed => "snoozed",
            State::Resolved => "resolved",
        }
    }

    /// Parses [`State::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => State::New,
            "acknowledged" | "acked" => State::Acknowledged,
            "snoozed" => State::Snoozed,
            "resolved" => State::Resolved,
            _ => return None,
        })
    }

    /// The state an acknowledgement with this status marker sets.
    #[must_use]
    pub fn of_marker(marker: Option<&str>) -> Self {
        match marker {
            Some(NOTE_RESOLVED) => State::Resolved,
            Some(NOTE_REOPENED) => State::New,
            _ => State::Acknowledged,
        }
    }
}

/// An alert's status with who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// The state.
    pub state: State,
    /// Who set it (empty for an untouched alert).
    pub who: String,
    /// When it was set.
    pub at: Option<DateTime<Utc>>,
    /// The free-text note given with the action.
    pub note: Option<String>,
    /// Muted until, when snoozed.
    pub until: Option<DateTime<Utc>>,
}

impl StatusView {
    /// An alert nobody acted on.
    #[must_use]
    pub fn new_alert() -> Self {
        StatusView {
            state: State::New,
            who: String::new(),
            at: None,
            note: None,
            until: None,
        }
    }
}

/// One acknowledgement row with its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRow {
    /// Row id.
    pub id: i64,
    /// What it applies to.
    pub target: Target,
    /// Who (a token name through the API).
    pub who: String,
    /// The status marker (`ack`, `resolved`, `reopened`).
    pub marker: Option<String>,
    /// The free-text note.
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// One snooze row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnoozeRow {
    /// Row id.
    pub id: i64,
    /// What it mutes.
    pub target: Target,
    /// Who.
    pub who: String,
    /// Muted until.
    pub until: DateTime<Utc>,
    /// The note.
    pub note: Option<String>,
    /// When it was set.
    pub at: DateTime<Utc>,
}

/// A stored alert as the API shows it: its exact JSON line and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// Alert id.
    pub id: String,
    /// The `tfdrift.alert/v1` JSON line as recorded.
    pub json: String,
    /// Its status now.
    pub status: StatusView,
}

/// What a journal entry refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeItem {
    /// A new alert.
    Alert(AlertRow),
    /// An acknowledgement (ack, resolve, reopen).
    Ack(AckRow),
    /// A snooze.
    Snooze(SnoozeRow),
    /// Something happened to a drift (opened, occurred, acknowledged, resolved …): the event
    /// and the drift as it is now.
    Drift(Box<(crate::drift::DriftEvent, crate::drift::Drift)>),
    /// The row it names was pruned since.
    Gone,
    /// A kind this build does not resolve (a later version's).
    Other {
        /// The entry's kind.
        kind: String,
        /// Its reference.
        reference: String,
    },
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Monotonic cursor.
    pub cursor: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// What changed.
    pub item: ChangeItem,
}

/// The range of cursors the journal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalBounds {
    /// Oldest cursor still kept (`None`: the journal is empty).
    pub oldest: Option<i64>,
    /// Newest cursor ever handed out (0: none yet).
    pub newest: i64,
}

impl JournalBounds {
    /// Whether a client at `since` can be served by replaying entries: nothing after `since`
    /// was pruned, and `since` is not from another (or a reset) store.
    #[must_use]
    pub fn can_resume(&self, since: i64) -> bool {
        if since > self.newest || since < 0 {
            return false;
        }
        match self.oldest {
            Some(o) => since >= o - 1,
            // Empty journal: fine only if nothing was ever pruned after `since`.
            None => since == self.newest,
        }
    }
}

/// Filters of [`Journal::list_alerts`] (empty = any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Severity (`high`).
    pub severity: Option<String>,
    /// Kind (`attribute_drift`).
    pub kind: Option<String>,
    /// `type:id` or Terraform address.
    pub resource: Option<String>,
    /// Status.
    pub state: Option<State>,
    /// Alert time lower bound.
    pub since: Option<DateTime<Utc>>,
}

/// A page of [`Journal::list_alerts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertPage {
    /// Alerts, newest first.
    pub alerts: Vec<AlertRow>,
    /// Where the next page starts (time ms, id), `None` on the last page.
    pub next: Option<(i64, String)>,
}

/// Team-mode store operations.
pub trait Journal: Store {
    /// Journal entries after `cursor`, oldest first, at most `limit`.
    fn changes_since(&self, cursor: i64, limit: usize) -> Result<Vec<Change>, StoreError>;

    /// The oldest and newest cursors.
    fn journal_bounds(&self) -> Result<JournalBounds, StoreError>;

    /// The newest `limit` alerts with their status, and the cursor they are consistent with
    /// (read under one lock: every change after the cursor is newer than the snapshot).
    fn journal_snapshot(&self, limit: usize) -> Result<(i64, Vec<AlertRow>), StoreError>;

    /// One alert with its status and every acknowledgement that applies to it.
    fn alert_detail(&self, id: &str) -> Result<Option<(AlertRow, Vec<AckRow>)>, StoreError>;

    /// Alerts matching `filter`, newest first, starting after `after`, at most `limit`.
    fn list_alerts(
        &self,
        filter: &AlertFilter,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<AlertPage, StoreError>;

    /// Sets an alert's state (ack / resolve / reopen; snooze needs `until`) with a note, in
    /// one transaction with its journal entry; returns the entry's cursor. Acks and resolves
    /// enqueue PagerDuty resolves like [`Store::ack`].
    fn act(
        &self,
        target: &Target,
        state: State,
        who: &str,
        note: Option<&str>,
        until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
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

/// The status from an alert's acks and its longest active snooze: the latest action wins.
#[must_use]
pub fn status_of(acks: &[AckRow], snooze: Option<&SnoozeRow>) -> StatusView {
    let last = acks.iter().max_by_key(|a| (a.at, a.id));
    let from_snooze = |s: &SnoozeRow| StatusView {
        state: State::Snoozed,
        who: s.who.clone(),
        at: Some(s.at),
        note: s.note.clone(),
        until: Some(s.until),
    };
    let from_ack = |a: &AckRow| StatusView {
        state: State::of_marker(a.marker.as_deref()),
        who: a.who.clone(),
        at: Some(a.at),
        note: a.comment.clone(),
        until: None,
    };
    match (last, snooze) {
        (Some(a), Some(s)) if s.at > a.at => from_snooze(s),
        (None, Some(s)) => from_snooze(s),
        (Some(a), _) => from_ack(a),
        (None, None) => StatusView::new_alert(),
    }
}

const ACK_COLS: &str = "id, alert_id, fingerprint, who, note, comment, at";
const SNOOZE_COLS: &str = "id, alert_id, fingerprint, who, until, note, at";

fn ack_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AckRow> {
    Ok(AckRow {
        id: r.get(0)?,
        target: target_of(r.get(1)?, r.get(2)?),
        who: r.get(3)?,
        marker: r.get(4)?,
        comment: r.get(5)?,
        at: from_ms(r.get(6)?),
    })
}

fn snooze_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SnoozeRow> {
    Ok(SnoozeRow {
        id: r.get(0)?,
        target: target_of(r.get(1)?, r.get(2)?),
        who: r.get(3)?,
        until: from_ms(r.get(4)?),
        note: r.get(5)?,
        at: from_ms(r.get(6)?),
    })
}

/// An alert's status from its acks and snoozes (by id or fingerprint), and the acks.
fn alert_status(
    conn: &Connection,
    id: &str,
    fp: &str,
    now: i64,
) -> rusqlite::Result<(StatusView, Vec<AckRow>)> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ACK_COLS} FROM acks WHERE alert_id = ?1 OR fingerprint = ?2 ORDER BY at, id"
    ))?;
    let acks: Vec<AckRow> = st
        .query_map(params![id, fp], ack_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SNOOZE_COLS} FROM snoozes WHERE (alert_id = ?1 OR fingerprint = ?2) AND until > ?3 \
         ORDER BY until DESC LIMIT 1"
    ))?;
    let snooze = st.query_row(params![id, fp, now], snooze_row).optional()?;
    Ok((status_of(&acks, snooze.as_ref()), acks))
}

fn alert_row(
    conn: &Connection,
    id: String,
    fp: &str,
    json: String,
    now: i64,
) -> rusqlite::Result<AlertRow> {
    let (status, _) = alert_status(conn, &id, fp, now)?;
    Ok(AlertRow { id, json, status })
}

fn newest_cursor(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'changes'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Raw journal row: cursor, at, kind, ref, and the joined columns.
type RawChange = (i64, i64, String, String);

impl Journal for SqliteStore {
    fn changes_since(&self, cursor: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Vec<Change>> {
            let now = ms(Utc::now());
            let raw: Vec<RawChange> = conn
                .prepare_cached(
                    "SELECT cursor, at, kind, ref FROM changes WHERE cursor > ?1 ORDER BY cursor LIMIT ?2",
                )?
                .query_map(params![cursor, limit_i64(limit)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(raw.len());
            for (c, at, kind, reference) in raw {
                let item = match kind.as_str() {
                    "alert" => conn
                        .prepare_cached("SELECT fingerprint, json FROM alerts WHERE id = ?1")?
                        .query_row([&reference], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                        })
                        .optional()?
                        .map(|(fp, json)| alert_row(&conn, reference.clone(), &fp, json, now))
                        .transpose()?
                        .map_or(ChangeItem::Gone, ChangeItem::Alert),
                    "ack" => conn
                        .prepare_cached(&format!("SELECT {ACK_COLS} FROM acks WHERE id = ?1"))?
                        .query_row([reference.parse::<i64>().unwrap_or(-1)], ack_row)
                        .optional()?
                        .map_or(ChangeItem::Gone, ChangeItem::Ack),
                    "snooze" => conn
                        .prepare_cached(&format!(
                            "SELECT {SNOOZE_COLS} FROM snoozes WHERE id = ?1"
                        ))?
                        .query_row([reference.parse::<i64>().unwrap_or(-1)], snooze_row)
                        .optional()?
                        .map_or(ChangeItem::Gone, ChangeItem::Snooze),
                    "drift" => super::sqlite_drift::event_with_drift(
                        &conn,
                        reference.parse::<i64>().unwrap_or(-1),
                    )?
                    .map_or(ChangeItem::Gone, |d| ChangeItem::Drift(Box::new(d))),
                    _ => ChangeItem::Other { kind, reference },
                };
                out.push(Change {
                    cursor: c,
                    at: from_ms(at),
                    item,
                });
            }
            Ok(out)
        };
        read().map_err(self.err("read the change journal"))
    }

    fn journal_bounds(&self) -> Result<JournalBounds, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<JournalBounds> {
            let oldest: Option<i64> =
                conn.query_row("SELECT MIN(cursor) FROM changes", [], |r| r.get(0))?;
            Ok(JournalBounds {
                oldest,
                newest: newest_cursor(&conn)?,
            })
        };
        read().map_err(self.err("read the change journal"))
    }

    fn journal_snapshot(&self, limit: usize) -> Result<(i64, Vec<AlertRow>), StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<(i64, Vec<AlertRow>)> {
            let now = ms(Utc::now());
            let cursor = newest_cursor(&conn)?;
            let rows: Vec<(String, String, String)> = conn
                .prepare_cached(
                    "SELECT id, fingerprint, json FROM alerts ORDER BY recorded_at DESC, time DESC, id LIMIT ?1",
                )?
                .query_map([limit_i64(limit)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let alerts = rows
                .into_iter()
                .map(|(id, fp, json)| alert_row(&conn, id, &fp, json, now))
                .collect::<rusqlite::Result<_>>()?;
            Ok((cursor, alerts))
        };
        read().map_err(self.err("read the snapshot"))
    }

    fn alert_detail(&self, id: &str) -> Result<Option<(AlertRow, Vec<AckRow>)>, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<Option<(AlertRow, Vec<AckRow>)>> {
            let Some((fp, json)) = conn
                .query_row(
                    "SELECT fingerprint, json FROM alerts WHERE id = ?1",
                    [id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let (status, acks) = alert_status(&conn, id, &fp, ms(Utc::now()))?;
            Ok(Some((
                AlertRow {
                    id: id.to_string(),
                    json,
                    status,
                },
                acks,
            )))
        };
        read().map_err(self.err("read alert"))
    }

    fn list_alerts(
        &self,
        filter: &AlertFilter,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<AlertPage, StoreError> {
        let conn = self.conn();
        let read = || -> rusqlite::Result<AlertPage> {
            let now = ms(Utc::now());
            let mut page = AlertPage::default();
            let (mut t, mut id) = after.cloned().unwrap_or((i64::MAX, String::new()));
            // Status is not a column: scan in chunks until the page is full or rows run out.
            loop {
                let rows: Vec<(i64, String, String, String)> = conn
                    .prepare_cached(
                        "SELECT time, id, fingerprint, json FROM alerts \
                         WHERE (?1 IS NULL OR severity = ?1) AND (?2 IS NULL OR kind = ?2) \
                         AND (?3 IS NULL OR resource_type || ':' || resource_id = ?3 OR resource_address = ?3) \
                         AND time >= ?4 AND (time < ?5 OR (time = ?5 AND id > ?6)) \
                         ORDER BY time DESC, id LIMIT ?7",
                    )?
                    .query_map(
                        params![
                            filter.severity,
                            filter.kind,
                            filter.resource,
                            filter.since.map_or(i64::MIN, ms),
                            t,
                            id,
                            limit_i64(limit.max(1))
                        ],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                let exhausted = rows.len() < limit.max(1);
                for (time, aid, fp, json) in rows {
                    (t, id) = (time, aid.clone());
                    let row = alert_row(&conn, aid, &fp, json, now)?;
                    if filter.state.is_none_or(|s| s == row.status.state) {
                        page.alerts.push(row);
                        if page.alerts.len() == limit.max(1) {
                            page.next = Some((t, id.clone()));
                            return Ok(page);
                        }
                    }
                }
                if exhausted {
                    return Ok(page);
                }
            }
        };
        read().map_err(self.err("list alerts"))
    }

    fn act(
        &self,
        target: &Target,
        state: State,
        who: &str,
        note: Option<&str>,
        until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (a, f) = target_cols(target);
        let mut conn = self.conn();
        let write = |conn: &mut Connection| -> rusqlite::Result<i64> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match state {
                State::Snoozed => {
                    tx.execute(
                        "INSERT INTO snoozes (alert_id, fingerprint, who, until, note, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![a, f, who, ms(until.unwrap_or(at)), note, ms(at)],
                    )?;
                }
                other => {
                    let marker = match other {
                        State::Resolved => NOTE_RESOLVED,
                        State::New => NOTE_REOPENED,
                        _ => NOTE_ACK,
                    };
                    tx.execute(
                        "INSERT INTO acks (alert_id, fingerprint, who, note, comment, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![a, f, who, marker, note, ms(at)],
                    )?;
                    if other != State::New {
                        super::sqlite_outbox::enqueue_resolves(&tx, a, f, ms(Utc::now()))?;
                    }
                }
            }
            let cursor = newest_cursor(&tx)?;
            tx.commit()?;
            Ok(cursor)
        };
        write(&mut conn).map_err(self.err("record the action"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writer_is_journaled_with_its_note_and_prune_drops_a_prefix() {
        let s = SqliteStore::open(std::path::Path::new(":memory:")).unwrap();
        let t = Target::Alert("tfd-1".into());
        let old = Utc::now() - chrono::Duration::days(40);
        // A writer that knows nothing of the journal (the monitor's, the CLI's) is covered.
        s.ack(&t, "cli", Some(NOTE_ACK), old).unwrap();
        let c = s
            .act(&t, State::Resolved, "rita", Some("fixed"), None, Utc::now())
            .unwrap();
        assert_eq!(c, 2);
        let all = s.changes_since(0, 10).unwrap();
        assert_eq!(all.iter().map(|c| c.cursor).collect::<Vec<_>>(), [1, 2]);
        match &all[1].item {
            ChangeItem::Ack(a) => {
                assert_eq!(a.who, "rita");
                assert_eq!(a.comment.as_deref(), Some("fixed"));
                assert_eq!(State::of_marker(a.marker.as_deref()), State::Resolved);
            }
            other => panic!("{other:?}"),
        }
        assert!(s.changes_since(2, 10).unwrap().is_empty());
        s.prune(Utc::now() - chrono::Duration::days(30)).unwrap();
        let b = s.journal_bounds().unwrap();
        assert_eq!(
            b,
            JournalBounds {
                oldest: Some(2),
                newest: 2
            }
        );
        assert!(
            !b.can_resume(0),
            "entry 1 was pruned: a reset, not a silent gap"
        );
        assert!(b.can_resume(1));
    }

    #[test]
    fn resume_bounds() {
        let b = JournalBounds {
            oldest: Some(10),
            newest: 20,
        };
        assert!(b.can_resume(9));
        assert!(b.can_resume(20));
        assert!(!b.can_resume(8), "entry 9 was pruned");
        assert!(!b.can_resume(21), "a cursor from another store");
        let empty = JournalBounds {
            oldest: None,
            newest: 5,
        };
        assert!(empty.can_resume(5));
        assert!(!empty.can_resume(4));
        assert!(JournalBounds::default().can_resume(0));
    }
}
