//! Statuses in the store: what an alert's acknowledgements and snoozes mean for the feed
//! (status, who, when), saving a new status, and loading recent alerts at start.

use chrono::{DateTime, Utc};

use super::feed::{Handled, Status};
use crate::alert::Alert;
use crate::store::{Ack, Snooze, Store, StoreError, Target};

/// Alerts loaded from the store at start: the newest this many (the store's retention bounds
/// their age).
const RESTORE_LIMIT: usize = 5_000;

/// What the store says about an alert's status: the latest of its acknowledgements (`note`
/// `ack`, `resolved`, `reopened`) and its active snooze, by the time they were set.
#[must_use]
pub fn stored_status(acks: &[Ack], snooze: Option<&Snooze>) -> Status {
    let last = acks.iter().max_by_key(|a| (a.at, a.id));
    match (last, snooze) {
        (Some(a), Some(s)) if s.at > a.at => Status::Snoozed(s.until),
        (None, Some(s)) => Status::Snoozed(s.until),
        (Some(a), _) => match a.note.as_deref() {
            Some(NOTE_RESOLVED) => Status::Resolved,
            Some(NOTE_REOPENED) => Status::New,
            _ => Status::Acked,
        },
        (None, None) => Status::New,
    }
}

pub use crate::store::{NOTE_ACK, NOTE_REOPENED, NOTE_RESOLVED};

/// Records `status` for alert `id` in `store` at `at`.
pub fn persist_status(
    store: &dyn Store,
    id: &str,
    status: Status,
    who: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let target = Target::Alert(id.to_string());
    match status {
        Status::Snoozed(until) => store.snooze(&target, who, until, None, at).map(|_| ()),
        Status::Acked => store.ack(&target, who, Some(NOTE_ACK), at).map(|_| ()),
        Status::Resolved => store.ack(&target, who, Some(NOTE_RESOLVED), at).map(|_| ()),
        Status::New => store.ack(&target, who, Some(NOTE_REOPENED), at).map(|_| ()),
    }
}

/// Who set the status [`stored_status`] derives, and when.
#[must_use]
pub fn stored_handler(acks: &[Ack], snooze: Option<&Snooze>) -> Option<Handled> {
    let last = acks.iter().max_by_key(|a| (a.at, a.id));
    match (last, snooze) {
        (Some(a), Some(s)) if s.at > a.at => Some(Handled {
            who: s.who.clone(),
            at: s.at,
        }),
        (None, Some(s)) => Some(Handled {
            who: s.who.clone(),
            at: s.at,
        }),
        (Some(a), _) => Some(Handled {
            who: a.who.clone(),
            at: a.at,
        }),
        (None, None) => None,
    }
}

/// Recent alerts with their stored status and who set it, oldest first.
pub fn load_recent(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<Vec<(Alert, Status, Option<Handled>)>, StoreError> {
    let mut alerts = store.recent_alerts(DateTime::<Utc>::UNIX_EPOCH, RESTORE_LIMIT)?;
    alerts.reverse();
    alerts
        .into_iter()
        .map(|a| {
            let acks = store.acks_for(&a)?;
            let snooze = store.snoozed(&a, now)?;
            let st = stored_status(&acks, snooze.as_ref());
            let by = if st == Status::New {
                None
            } else {
                stored_handler(&acks, snooze.as_ref())
            };
            Ok((a, st, by))
        })
        .collect()
}
