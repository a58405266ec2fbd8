//! The team-mode [`Journal`] on PostgreSQL: the `changes` journal (filled by triggers, its
//! cursor from `journal_head`, see `schema.rs`), snapshots, alert pages and actions — the same
//! answers as the SQLite implementation in `store/journal.rs`.
//!
//! A snapshot reads the journal head and the alerts in one `REPEATABLE READ` transaction: the
//! head is written by the same transactions that write alerts, acks and snoozes, so every
//! change after the returned cursor is newer than the snapshot, whichever replica wrote it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PostgresStore, from_ms, limit_i64, ms, record, target_of};
use crate::store::journal::{
    AckRow, AlertFilter, AlertPage, AlertRow, Change, ChangeItem, Journal, JournalBounds, NOTE_ACK,
    NOTE_RESOLVED, SnoozeRow, State, StatusView, status_of,
};
use crate::store::{NOTE_REOPENED, StoreError, Target};

type PgResult<T> = Result<T, tokio_postgres::Error>;

const ACK_COLS: &str = "id, alert_id, fingerprint, who, note, comment, at";
const SNOOZE_COLS: &str = "id, alert_id, fingerprint, who, until, note, at";

fn ack_row(r: &Row) -> AckRow {
    AckRow {
        id: r.get(0),
        target: target_of(r.get(1), r.get(2)),
        who: r.get(3),
        marker: r.get(4),
        comment: r.get(5),
        at: from_ms(r.get(6)),
    }
}

fn snooze_row(r: &Row) -> SnoozeRow {
    SnoozeRow {
        id: r.get(0),
        target: target_of(r.get(1), r.get(2)),
        who: r.get(3),
        until: from_ms(r.get(4)),
        note: r.get(5),
        at: from_ms(r.get(6)),
    }
}

async fn alert_status(
    c: &impl GenericClient,
    id: &str,
    fp: &str,
    now: i64,
) -> PgResult<(StatusView, Vec<AckRow>)> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {ACK_COLS} FROM acks WHERE alert_id = $1 OR fingerprint = $2 ORDER BY at, id"
        ))
        .await?;
    let acks: Vec<AckRow> = c
        .query(&st, &[&id, &fp])
        .await?
        .iter()
        .map(ack_row)
        .collect();
    let st = c
        .prepare_cached(&format!(
            "SELECT {SNOOZE_COLS} FROM snoozes WHERE (alert_id = $1 OR fingerprint = $2) AND until > $3 \
             ORDER BY until DESC LIMIT 1"
        ))
        .await?;
    let snooze = c
        .query_opt(&st, &[&id, &fp, &now])
        .await?
        .as_ref()
        .map(snooze_row);
    Ok((status_of(&acks, snooze.as_ref()), acks))
}

async fn alert_row(
    c: &impl GenericClient,
    id: String,
    fp: &str,
    json: String,
    now: i64,
) -> PgResult<AlertRow> {
    let (status, _) = alert_status(c, &id, fp, now).await?;
    Ok(AlertRow { id, json, status })
}

async fn newest_cursor(c: &impl GenericClient) -> PgResult<i64> {
    Ok(c.query_one("SELECT newest FROM journal_head", &[])
        .await?
        .get(0))
}

fn parse_ref(reference: &str) -> i64 {
    reference.parse().unwrap_or(-1)
}

async fn resolve_change(
    c: &impl GenericClient,
    kind: String,
    reference: String,
    now: i64,
) -> PgResult<ChangeItem> {
    Ok(match kind.as_str() {
        "alert" => {
            let found = c
                .query_opt(
                    "SELECT fingerprint, json FROM alerts WHERE id = $1",
                    &[&reference],
                )
                .await?;
            match found {
                Some(r) => {
                    ChangeItem::Alert(alert_row(c, reference, r.get(0), r.get(1), now).await?)
                }
                None => ChangeItem::Gone,
            }
        }
        "ack" => c
            .query_opt(
                &format!("SELECT {ACK_COLS} FROM acks WHERE id = $1"),
                &[&parse_ref(&reference)],
            )
            .await?
            .as_ref()
            .map_or(ChangeItem::Gone, |r| ChangeItem::Ack(ack_row(r))),
        "snooze" => c
            .query_opt(
                &format!("SELECT {SNOOZE_COLS} FROM snoozes WHERE id = $1"),
                &[&parse_ref(&reference)],
            )
            .await?
            .as_ref()
            .map_or(ChangeItem::Gone, |r| ChangeItem::Snooze(snooze_row(r))),
        "drift" => super::drift::event_with_drift(c, parse_ref(&reference))
            .await?
            .map_or(ChangeItem::Gone, |d| ChangeItem::Drift(Box::new(d))),
        _ => ChangeItem::Other { kind, reference },
    })
}

impl Journal for PostgresStore {
    fn changes_since(&self, cursor: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.with("read the change journal", async |c| {
            let now = ms(Utc::now());
            let raw = c
                .query(
                    "SELECT cursor, at, kind, ref FROM changes WHERE cursor > $1 ORDER BY cursor LIMIT $2",
                    &[&cursor, &limit_i64(limit)],
                )
                .await?;
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                let item = resolve_change(&*c, r.get(2), r.get(3), now).await?;
                out.push(Change {
                    cursor: r.get(0),
                    at: from_ms(r.get(1)),
                    item,
                });
            }
            Ok(out)
        })
    }

    fn journal_bounds(&self) -> Result<JournalBounds, StoreError> {
        self.with("read the change journal", async |c| {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let oldest: Option<i64> = tx
                .query_one("SELECT MIN(cursor) FROM changes", &[])
                .await?
                .get(0);
            let newest = newest_cursor(&tx).await?;
            tx.commit().await?;
            Ok(JournalBounds { oldest, newest })
        })
    }

    fn journal_snapshot(&self, limit: usize) -> Result<(i64, Vec<AlertRow>), StoreError> {
        self.with("read the snapshot", async |c| {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let now = ms(Utc::now());
            let cursor = newest_cursor(&tx).await?;
            let rows = tx
                .query(
                    "SELECT id, fingerprint, json FROM alerts ORDER BY recorded_at DESC, time DESC, id LIMIT $1",
                    &[&limit_i64(limit)],
                )
                .await?;
            let mut alerts = Vec::with_capacity(rows.len());
            for r in rows {
                alerts.push(alert_row(&tx, r.get(0), r.get(1), r.get(2), now).await?);
            }
            tx.commit().await?;
            Ok((cursor, alerts))
        })
    }

    fn alert_detail(&self, id: &str) -> Result<Option<(AlertRow, Vec<AckRow>)>, StoreError> {
        self.with("read alert", async |c| {
            let Some(r) = c
                .query_opt("SELECT fingerprint, json FROM alerts WHERE id = $1", &[&id])
                .await?
            else {
                return Ok(None);
            };
            let (fp, json): (String, String) = (r.get(0), r.get(1));
            let (status, acks) = alert_status(&*c, id, &fp, ms(Utc::now())).await?;
            Ok(Some((
                AlertRow {
                    id: id.to_string(),
                    json,
                    status,
                },
                acks,
            )))
        })
    }

    fn list_alerts(
        &self,
        filter: &AlertFilter,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<AlertPage, StoreError> {
        self.with("list alerts", async |c| {
            let now = ms(Utc::now());
            let mut page = AlertPage::default();
            let (mut t, mut id) = after.cloned().unwrap_or((i64::MAX, String::new()));
            let st = c
                .prepare_cached(
                    "SELECT time, id, fingerprint, json FROM alerts \
                     WHERE ($1::TEXT IS NULL OR severity = $1) AND ($2::TEXT IS NULL OR kind = $2) \
                     AND ($3::TEXT IS NULL OR resource_type || ':' || resource_id = $3 OR resource_address = $3) \
                     AND time >= $4 AND (time < $5 OR (time = $5 AND id > $6)) \
                     ORDER BY time DESC, id LIMIT $7",
                )
                .await?;
            loop {
                let rows = c
                    .query(
                        &st,
                        &[
                            &filter.severity,
                            &filter.kind,
                            &filter.resource,
                            &filter.since.map_or(i64::MIN, ms),
                            &t,
                            &id,
                            &limit_i64(limit.max(1)),
                        ],
                    )
                    .await?;
                let exhausted = rows.len() < limit.max(1);
                for r in rows {
                    let (time, aid, fp, json): (i64, String, String, String) =
                        (r.get(0), r.get(1), r.get(2), r.get(3));
                    (t, id) = (time, aid.clone());
                    let row = alert_row(&*c, aid, &fp, json, now).await?;
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
        })
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
        self.with("record the action", async |c| {
            let tx = c.transaction().await?;
            match state {
                State::Snoozed => {
                    record::insert_snooze(&tx, target, who, until.unwrap_or(at), note, at).await?;
                }
                other => {
                    let marker = match other {
                        State::Resolved => NOTE_RESOLVED,
                        State::New => NOTE_REOPENED,
                        _ => NOTE_ACK,
                    };
                    record::insert_ack(&tx, target, who, Some(marker), note, at).await?;
                    if other != State::New {
                        let (a, f) = super::target_cols(target);
                        super::outbox::enqueue_resolves(&tx, a, f, ms(Utc::now())).await?;
                    }
                }
            }
            let cursor = newest_cursor(&tx).await?;
            tx.commit().await?;
            Ok(cursor)
        })
    }
}
