//! Who changed a reconciled attribute: the newest event alert on the same resource whose diff
//! covers the attribute (from the resource's history), else the newest event alert among the
//! occurrences of an overlapping drift (history rows are pruned sooner than drifts). Reconcile's
//! own alerts never attribute anything. Nothing found: **no event seen**.

use chrono::{DateTime, Utc};

use super::plan::overlaps;
use super::{Attribution, SOURCE};
use crate::alert::{Alert, AlertKind};
use crate::store::{DriftFilter, Store};

/// How far back the history is searched.
pub const LOOKBACK_DAYS: i64 = 90;

/// What is being explained.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Type.
    pub rtype: &'a str,
    /// Cloud id.
    pub id: &'a str,
    /// Address.
    pub address: &'a str,
    /// Attribute ("" with `deleted`).
    pub attribute: &'a str,
    /// The resource is gone.
    pub deleted: bool,
}

fn explains(a: &Alert, s: &Subject<'_>) -> bool {
    if a.event.service == SOURCE {
        return false;
    }
    if s.deleted {
        return a.kind == AlertKind::ManagedResourceDeleted;
    }
    a.kind == AlertKind::AttributeDrift && a.diffs.iter().any(|d| overlaps(&d.path, s.attribute))
}

/// The attribution an event alert gives.
#[must_use]
pub fn from_alert(a: &Alert) -> Attribution {
    let via = serde_json::to_value(a.actor.via)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string));
    Attribution {
        seen: true,
        actor: crate::drift::actor_of(a),
        via,
        at: Some(a.event.time.unwrap_or(a.time)),
        alert_id: Some(a.id.clone()),
        event: Some(a.event.name.clone()),
    }
}

/// Finds the event behind a reconciled drift (store errors count as "no event seen", logged).
#[must_use]
pub fn attribute(store: &dyn Store, s: &Subject<'_>, now: DateTime<Utc>) -> Attribution {
    match find(store, s, now) {
        Ok(Some(a)) => from_alert(&a),
        Ok(None) => Attribution::default(),
        Err(e) => {
            tracing::error!(error = %e, address = s.address, "Cannot read the event history for attribution");
            Attribution::default()
        }
    }
}

fn find(
    store: &dyn Store,
    s: &Subject<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Alert>, crate::store::StoreError> {
    let since = now - chrono::Duration::days(LOOKBACK_DAYS);
    if !s.id.is_empty() {
        let rows = store.history(&format!("{}:{}", s.rtype, s.id), since)?;
        for h in rows.iter().rev() {
            if h.event_name == super::EVENT_NAME {
                continue;
            }
            if let Some(a) = store.alert(&h.alert_id)?
                && explains(&a, s)
            {
                return Ok(Some(a));
            }
        }
    }
    let mut drifts: Vec<_> = store
        .drifts(&DriftFilter::default())?
        .into_iter()
        .filter(|d| {
            d.address.as_deref() == Some(s.address)
                && if s.deleted {
                    d.kind == AlertKind::ManagedResourceDeleted.as_str()
                } else {
                    !d.attribute.is_empty() && overlaps(&d.attribute, s.attribute)
                }
        })
        .collect();
    drifts.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
    for d in drifts {
        for e in store.drift_events(&d.id)?.iter().rev() {
            let Some(id) = &e.alert_id else { continue };
            if let Some(a) = store.alert(id)?
                && explains(&a, s)
            {
                return Ok(Some(a));
            }
        }
    }
    Ok(None)
}
