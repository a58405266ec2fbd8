//! Who changed a reconciled attribute: the newest event alert on the same resource whose diff
//! covers the attribute (from the resource's history) and whose drift is still open, else the
//! newest event alert among the occurrences of an overlapping open drift (history rows are
//! pruned sooner than drifts). An event whose drift ended (reverted, applied, reconciled) does
//! not explain what the cloud holds now; reconcile's own alerts never attribute anything.
//! Nothing found: **no event seen**.

use chrono::{DateTime, Utc};

use super::plan::overlaps;
use super::{Attribution, SOURCE};
use crate::alert::{Alert, AlertKind};
use crate::drift::Drift;
use crate::store::Store;

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

fn explains(a: &Alert, s: &Subject<'_>, open: &[Drift]) -> bool {
    if a.event.service == SOURCE {
        return false;
    }
    let ids: Vec<&String> = a.drift_id.iter().chain(&a.drift_ids).collect();
    if !ids.is_empty() && !open.iter().any(|d| ids.contains(&&d.id)) {
        // Its drift ended since: the change it saw is not what the cloud holds now.
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

/// Finds the event behind a reconciled drift among the unresolved drifts `open` (store errors
/// count as "no event seen", logged).
#[must_use]
pub fn attribute(
    store: &dyn Store,
    s: &Subject<'_>,
    now: DateTime<Utc>,
    open: &[Drift],
) -> Attribution {
    match find(store, s, now, open) {
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
    open: &[Drift],
) -> Result<Option<Alert>, crate::store::StoreError> {
    let since = now - chrono::Duration::days(LOOKBACK_DAYS);
    if !s.id.is_empty() {
        let rows = store.history(&format!("{}:{}", s.rtype, s.id), since)?;
        for h in rows.iter().rev() {
            if h.event_name == super::EVENT_NAME {
                continue;
            }
            if let Some(a) = store.alert(&h.alert_id)?
                && explains(&a, s, open)
            {
                return Ok(Some(a));
            }
        }
    }
    let mut drifts: Vec<&Drift> = open
        .iter()
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
                && explains(&a, s, open)
            {
                return Ok(Some(a));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{DriftOp, Reason, Resolution, Target};
    use crate::store::{DriftFilter, EventRecord, SqliteStore};
    use serde_json::json;

    fn open(store: &SqliteStore) -> Vec<Drift> {
        store
            .drifts(&DriftFilter {
                unresolved_only: true,
                ..DriftFilter::default()
            })
            .unwrap()
    }

    #[test]
    fn an_open_drifts_event_attributes_an_ended_ones_does_not() {
        let store = SqliteStore::open(std::path::Path::new(":memory:")).unwrap();
        let mut alert: Alert = serde_json::from_value(json!({
            "schema": "tfdrift.alert/v1", "id": "tfd-a", "time": "2026-12-01T10:00:00Z",
            "kind": "attribute_drift", "severity": "high", "provider": "aws",
            "resource": {"type": "aws_security_group", "id": "sg-1",
                         "address": "aws_security_group.web", "managed": true},
            "diffs": [{"path": "ingress", "state": [], "observed": [{"from_port": 22}]}],
            "event": {"id": "e1", "name": "AuthorizeSecurityGroupIngress", "service": "ec2",
                      "time": "2026-12-01T10:00:00Z"},
            "actor": {"arn": "arn:aws:iam::1:user/alice", "via": "console"},
            "rules": [], "remediation": []
        }))
        .unwrap();
        let occ = crate::drift::occurrences(&alert, "s");
        crate::drift::stamp(&mut alert, &occ);
        let ops: Vec<DriftOp> = occ
            .into_iter()
            .map(|o| DriftOp::Occur(Box::new(o)))
            .collect();
        store
            .record_batch(&[EventRecord {
                seen: &["e1"],
                time: Some(alert.time),
                alerts: std::slice::from_ref(&alert),
                outbox: &[],
                drifts: &ops,
            }])
            .unwrap();
        let now = alert.time + chrono::Duration::hours(1);
        let subject = |attribute| Subject {
            rtype: "aws_security_group",
            id: "sg-1",
            address: "aws_security_group.web",
            attribute,
            deleted: false,
        };
        let a = attribute(&store, &subject("ingress"), now, &open(&store));
        assert!(a.seen, "{a:?}");
        assert_eq!(a.actor.as_deref(), Some("arn:aws:iam::1:user/alice"));
        assert_eq!(a.via.as_deref(), Some("console"));
        assert_eq!(a.alert_id.as_deref(), Some("tfd-a"));
        assert!(!attribute(&store, &subject("egress"), now, &open(&store)).seen);
        store
            .resolve_drifts(&[Resolution {
                target: Target::Id(alert.drift_id.clone().unwrap()),
                reason: Reason::Reverted,
                who: None,
                at: now,
                note: None,
            }])
            .unwrap();
        let after = attribute(&store, &subject("ingress"), now, &open(&store));
        assert!(
            !after.seen,
            "a reverted change explains nothing now: {after:?}"
        );
        assert_eq!(after.line(), "no event seen");
    }
}
