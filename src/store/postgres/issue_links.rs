//! PostgreSQL side of the issue-tracker links (`issue_links`, schema version 6, the same
//! meaning as SQLite's: see [`crate::store::issue_links`]) and the resolved drift episodes
//! behind the time-to-resolve histogram.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{from_ms, ms};
use crate::alert::Severity;
use crate::drift::{Reason, ResolvedSpan};
use crate::store::IssueLink;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// Schema version 6: the links.
pub(super) const MIGRATION_ISSUE_LINKS: &str = r"
CREATE TABLE IF NOT EXISTS issue_links (
    channel      TEXT NOT NULL,
    drift_id     TEXT NOT NULL,
    number       BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    episode      BIGINT NOT NULL,
    last_sent    TEXT,
    commented_at BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (channel, drift_id)
);
";

/// The link of `drift_id` in `channel`.
pub(super) async fn get(
    c: &impl GenericClient,
    channel: &str,
    drift_id: &str,
) -> PgResult<Option<IssueLink>> {
    let st = c
        .prepare_cached(
            "SELECT number, state, episode, last_sent, commented_at FROM issue_links \
             WHERE channel = $1 AND drift_id = $2",
        )
        .await?;
    Ok(c.query_opt(&st, &[&channel, &drift_id]).await?.map(|r| {
        let state: String = r.get(1);
        IssueLink {
            channel: channel.to_string(),
            drift_id: drift_id.to_string(),
            number: r.get::<_, i64>(0).try_into().unwrap_or(0),
            open: state == "open",
            episode: r.get::<_, i64>(2).try_into().unwrap_or(1),
            last_sent: r.get(3),
            commented_at: r.get::<_, Option<i64>>(4).map(from_ms),
        }
    }))
}

/// Writes (inserts or replaces) a link.
pub(super) async fn put(c: &impl GenericClient, l: &IssueLink, now: DateTime<Utc>) -> PgResult<()> {
    let st = c
        .prepare_cached(
            "INSERT INTO issue_links \
             (channel, drift_id, number, state, episode, last_sent, commented_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (channel, drift_id) DO UPDATE SET number = EXCLUDED.number, \
             state = EXCLUDED.state, episode = EXCLUDED.episode, last_sent = EXCLUDED.last_sent, \
             commented_at = EXCLUDED.commented_at, updated_at = EXCLUDED.updated_at",
        )
        .await?;
    let number = i64::try_from(l.number).unwrap_or(i64::MAX);
    let state = if l.open { "open" } else { "closed" };
    let episode = i64::from(l.episode);
    let commented = l.commented_at.map(ms);
    c.execute(
        &st,
        &[
            &l.channel,
            &l.drift_id,
            &number,
            &state,
            &episode,
            &l.last_sent,
            &commented,
            &ms(now),
        ],
    )
    .await?;
    Ok(())
}

/// Every resolved episode still stored: severity, reason, and the time from the episode's
/// opening (or reopening) event to its resolution.
pub(super) async fn resolved_spans(c: &impl GenericClient) -> PgResult<Vec<ResolvedSpan>> {
    let rows = c
        .query(
            "SELECT d.severity, r.reason, r.at, \
               (SELECT o.at FROM drift_events o WHERE o.drift_id = r.drift_id \
                  AND o.kind IN ('opened', 'reopened') AND o.id < r.id ORDER BY o.id DESC LIMIT 1) \
             FROM drift_events r JOIN drifts d ON d.id = r.drift_id \
             WHERE r.kind = 'resolved' AND r.reason IS NOT NULL",
            &[],
        )
        .await?;
    let time = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for r in rows {
        let (sev, reason, at, opened): (String, String, String, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let (Some(reason), Some(opened)) = (Reason::parse(&reason), opened) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let seconds = (time(&at) - time(&opened)).num_milliseconds().max(0) as f64 / 1000.0;
        out.push(ResolvedSpan {
            severity: Severity::parse(&sev).unwrap_or_default(),
            reason,
            seconds,
        });
    }
    Ok(out)
}
