//! Building the alert from a drift and its event: ids, actor, `via`, masking.

use chrono::Utc;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

use crate::alert::{ActorRef, Alert, EventRef, ResourceRef, SCHEMA, Severity};
use crate::detect::Drift;
use crate::event::CloudEvent;
use crate::mask::{Sensitive, mask_alert};

pub use crate::enrich::identity::via;

/// Deterministic alert id: replaying the same log yields the same ids.
#[must_use]
pub fn alert_id(event_id: &str, rtype: &str, resource_id: &str, kind: &str) -> String {
    let mut h = Sha256::new();
    for part in [event_id, rtype, resource_id, kind] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut s = String::with_capacity(36);
    s.push_str("tfd-");
    for b in &digest[..12] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Masks secrets in the whole alert ([`mask_alert`]) with what the state and the catalog know
/// about its resource. [`assemble`] calls it so rules evaluate and render templates from masked
/// values; the engine calls it again once rules and enrichment added their text, just before the
/// alert leaves (stdout, store, channels, UI all render from that).
pub fn mask(alert: &mut Alert, drift: &Drift<'_>) {
    let s = Sensitive {
        state_paths: drift
            .resource
            .map_or(&[][..], |r| r.sensitive_paths.as_slice()),
        diff_paths: &drift.sensitive_paths,
        state_attrs: drift.resource.map(|r| &r.attributes),
    };
    mask_alert(alert, &s);
}

/// Builds the alert. Severity starts at `default_severity`; rules may raise or lower it.
#[must_use]
pub fn assemble(ev: &CloudEvent, drift: &Drift<'_>, default_severity: Severity) -> Alert {
    let change = &drift.change;
    let resource_id = drift
        .resource
        .and_then(|r| r.id.clone())
        .unwrap_or_else(|| change.display_id.clone());
    let mut actor = ActorRef {
        identity_type: ev.actor.identity_type.clone(),
        principal: ev.actor.principal.clone(),
        arn: ev.actor.arn.clone(),
        email: ev.actor.email.clone(),
        session: ev.actor.session.clone(),
        user_agent: ev.actor.user_agent.clone(),
        source_ip: ev.actor.source_ip.clone(),
        via: via(ev),
    };
    if actor.session.is_none() {
        actor.session.clone_from(&ev.actor.invoked_by);
    }
    let mut alert = Alert {
        schema: SCHEMA.to_string(),
        id: alert_id(&ev.id, &change.rtype, &resource_id, drift.kind.as_str()),
        time: ev.time.unwrap_or_else(Utc::now),
        kind: drift.kind,
        severity: default_severity,
        provider: ev.provider.as_str().to_string(),
        resource: ResourceRef {
            rtype: drift
                .resource
                .map_or_else(|| change.rtype.clone(), |r| r.rtype.clone()),
            id: resource_id,
            address: drift.resource.map(|r| r.address.clone()),
            managed: drift.resource.is_some(),
        },
        diffs: drift.diffs.clone(),
        event: EventRef {
            id: ev.id.clone(),
            name: ev.raw_action.clone(),
            service: ev.service.clone(),
            time: ev.time,
            time_source: if ev.time.is_some() {
                ev.time_source
            } else {
                Some(crate::event::TimeSource::Processing)
            },
            region: ev.region.clone(),
            account: ev.account.clone(),
        },
        actor,
        rules: Vec::new(),
        remediation: Vec::new(),
        runbook: None,
        enrichment: crate::alert::Enrichment::default(),
        drift_id: None,
        drift_ids: Vec::new(),
        attribution: None,
    };
    mask(&mut alert, drift);
    alert
}
