//! The Drift calls of the team API: `ListDrifts` (what `tfdrift drifts list --connect` prints)
//! and `GetDrift` (one drift, its events and, on request, its occurrences — the monitor's
//! occurrence list in team mode). Both read the daemon's store, the single source of the drift
//! set, so a drift listed through the API is the row `tfdrift drifts list --profile` prints.
//!
//! The drift travels twice: typed ([`pb::Drift`], for clients in other languages) and as the
//! exact JSON the local command prints (`DriftRecord.json`, with the fields the typed message
//! lacks), so `--json` output through `--connect` is byte for byte the local one.
//!
//! [`occurrences`] (a drift's alerts, newest first) is shared with the in-process monitor.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::require;
use super::convert;
use super::proto as pb;
use super::server::{ApiState, blocking};
use super::tokens::Role;
use crate::alert::{Alert, Severity};
use crate::drift::{Drift, DriftEvent, EventKind};
use crate::store::{DriftFilter, Store, StoreError};

/// Most occurrences one `GetDrift` returns (a drift an automation fights has thousands).
pub const MAX_OCCURRENCES: usize = 500;

/// A drift's alerts, newest first, at most `limit`: the alerts its `opened`, `occurred` and
/// `reopened` events name, each read from the store (those pruned by retention are skipped).
pub fn occurrences(store: &dyn Store, id: &str, limit: usize) -> Result<Vec<Alert>, StoreError> {
    let events = store.drift_events(id)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in events.iter().rev() {
        if out.len() >= limit {
            break;
        }
        if !matches!(
            e.kind,
            EventKind::Opened | EventKind::Occurred | EventKind::Reopened
        ) {
            continue;
        }
        let Some(alert_id) = e.alert_id.as_deref() else {
            continue;
        };
        if !seen.insert(alert_id.to_string()) {
            continue;
        }
        if let Some(a) = store.alert(alert_id)? {
            out.push(a);
        }
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    Ok(out)
}

/// A drift as the API sends it: typed, and as `tfdrift drifts list --json` prints it.
#[must_use]
pub fn record(d: &Drift) -> pb::DriftRecord {
    pb::DriftRecord {
        drift: Some(convert::drift(d)),
        json: serde_json::to_string(d).unwrap_or_default(),
    }
}

/// A drift of the API back into the model: from its JSON (every field), else the typed form.
pub fn from_record(r: &pb::DriftRecord) -> Result<Drift, String> {
    if !r.json.is_empty() {
        return serde_json::from_str(&r.json)
            .map_err(|e| format!("the daemon sent a drift that is not a drift row: {e}"));
    }
    match &r.drift {
        Some(d) => convert::drift_from(d),
        None => Err("the daemon sent an empty drift".into()),
    }
}

/// One drift event for the API.
#[must_use]
pub fn event(e: &DriftEvent) -> pb::DriftEventRecord {
    pb::DriftEventRecord {
        id: e.id,
        at: convert::time(e.at),
        kind: e.kind.as_str().to_string(),
        who: e.who.clone().unwrap_or_default(),
        reason: e.reason.map(|r| r.as_str().to_string()).unwrap_or_default(),
        note: e.note.clone().unwrap_or_default(),
        alert_id: e.alert_id.clone().unwrap_or_default(),
    }
}

/// An API drift event back into the model; `Err` names the bad field.
pub fn event_from(drift_id: &str, e: &pb::DriftEventRecord) -> Result<DriftEvent, String> {
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(DriftEvent {
        id: e.id,
        drift_id: drift_id.to_string(),
        at: convert::parse_time("at", &e.at)
            .map_err(|m| format!("drift {drift_id} event {}: {m}", e.id))?
            .unwrap_or_default(),
        kind: EventKind::parse(&e.kind)
            .ok_or_else(|| format!("drift {drift_id} event {}: kind '{}'", e.id, e.kind))?,
        who: nonempty(&e.who),
        reason: crate::drift::Reason::parse(&e.reason),
        note: nonempty(&e.note),
        alert_id: nonempty(&e.alert_id),
    })
}

/// `ListDrifts`.
pub async fn list(
    state: &Arc<ApiState>,
    req: Request<pb::ListDriftsRequest>,
) -> Result<Response<pb::ListDriftsReply>, Status> {
    require(&req, Role::Viewer, "listing drifts")?;
    let r = req.into_inner();
    let unresolved_only = match r.status.as_str() {
        "" | "open" => true,
        "all" => false,
        s => {
            return Err(Status::invalid_argument(format!(
                "status '{s}' is not one of open, all"
            )));
        }
    };
    let min_severity = match r.min_severity.as_str() {
        "" => None,
        s => Some(Severity::parse(s).ok_or_else(|| {
            Status::invalid_argument(format!(
                "min_severity '{s}' is not a severity: use info, low, medium, high or critical"
            ))
        })?),
    };
    let filter = DriftFilter {
        unresolved_only,
        min_severity,
        limit: usize::try_from(r.limit).unwrap_or(usize::MAX),
    };
    let drifts = blocking(state, move |s| s.drifts(&filter)).await?;
    Ok(Response::new(pb::ListDriftsReply {
        drifts: drifts.iter().map(record).collect(),
    }))
}

/// `GetDrift`.
pub async fn get(
    state: &Arc<ApiState>,
    req: Request<pb::GetDriftRequest>,
) -> Result<Response<pb::GetDriftReply>, Status> {
    require(&req, Role::Viewer, "reading drifts")?;
    let r = req.into_inner();
    if r.id.is_empty() {
        return Err(Status::invalid_argument(
            "id is empty: give a drift id (`drf-…`, ListDrifts lists them)",
        ));
    }
    let limit = usize::try_from(r.occurrences)
        .unwrap_or(MAX_OCCURRENCES)
        .min(MAX_OCCURRENCES);
    let id = r.id.clone();
    let found = blocking(state, move |s| {
        let Some(d) = s.drift(&id)? else {
            return Ok(None);
        };
        let events = s.drift_events(&id)?;
        let mut alerts = Vec::new();
        if limit > 0 {
            for a in occurrences(s, &id, limit)? {
                // With its status, as every other call sends an alert.
                if let Some((row, _)) = s.alert_detail(&a.id)? {
                    alerts.push(convert::alert(&row));
                }
            }
        }
        Ok(Some((d, events, alerts)))
    })
    .await?;
    let (d, events, alerts) = found.ok_or_else(|| {
        Status::not_found(format!(
            "no drift '{}' in the daemon's store (ids are the `drift_id` of alerts; ListDrifts with status all lists them)",
            r.id
        ))
    })?;
    Ok(Response::new(pb::GetDriftReply {
        drift: Some(record(&d)),
        events: events.iter().map(event).collect(),
        occurrences: alerts,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn events_and_drifts_survive_the_api_unchanged() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        let e = DriftEvent {
            id: 7,
            drift_id: "drf-1".into(),
            at,
            kind: EventKind::Resolved,
            who: Some("bob".into()),
            reason: Some(crate::drift::Reason::Reverted),
            note: None,
            alert_id: Some("tfd-1".into()),
        };
        assert_eq!(event_from("drf-1", &event(&e)).unwrap(), e);
        let bad = pb::DriftEventRecord {
            kind: "exploded".into(),
            ..event(&e)
        };
        assert!(event_from("drf-1", &bad).unwrap_err().contains("exploded"));
        assert!(
            from_record(&pb::DriftRecord::default())
                .unwrap_err()
                .contains("empty")
        );
    }
}
