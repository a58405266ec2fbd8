//! The engine's share of the drift lifecycle: which drifts an event reverts, which resources
//! Terraform changed (their drifts resolve as `applied` once the refreshed state shows it) and
//! what a refreshed state settles (`accepted`, `applied`, `gone`).

use std::collections::{HashMap, HashSet};

use super::{Engine, Staged, StoreSeen};
use crate::alert::Alert;
use crate::catalog::Lookup;
use crate::detect::locate;
use crate::drift::{DriftOp, Reason, Resolution, Selector};
use crate::event::CloudEvent;
use crate::map::{Touch, map_event};
use crate::pipeline::stats::Stats;
use crate::state::StateIndex;

/// How long a Terraform change waits for a refreshed state to resolve its drifts as `applied`.
const TERRAFORM_PENDING: std::time::Duration = std::time::Duration::from_hours(6);

/// Where a drifted resource is remembered in [`Engine`]'s `drifted` set.
fn resource_keys(address: Option<&str>, rtype: &str, id: &str) -> [String; 2] {
    [
        address.map_or_else(String::new, |a| format!("@{a}")),
        format!("{rtype}:{id}"),
    ]
}

impl Engine {
    /// The resource an event touched, as a selector over the attributes it set (for a
    /// `reverted` resolution); `None` when no state manages it or the event reveals nothing.
    pub(super) fn revert_selector(&self, touch: &Touch) -> Option<Selector> {
        touch.candidates.iter().find_map(|change| {
            let r = locate(&self.state, change)?;
            (change.kind != crate::catalog::ChangeKind::Delete && !change.observed.is_empty()).then(
                || Selector {
                    address: Some(r.address.clone()),
                    rtype: r.rtype.clone(),
                    resource_id: r.id.clone().unwrap_or_default(),
                    attributes: Some(change.observed.iter().map(|o| o.path.clone()).collect()),
                    keep: Vec::new(),
                },
            )
        })
    }

    /// Remembers that the alert's resource has a drift now.
    pub(super) fn note_drifted(&mut self, a: &Alert) {
        let keys = resource_keys(
            a.resource.address.as_deref(),
            &a.resource.rtype,
            &a.resource.id,
        );
        if let Some(set) = self.drifted_set() {
            set.extend(keys.into_iter().filter(|k| !k.is_empty()));
        }
    }

    /// The resources that may have unresolved drifts, loaded from the store on first use
    /// (`None` without a store).
    fn drifted_set(&mut self) -> Option<&mut HashSet<String>> {
        let store = self.store.clone()?;
        Some(self.drifted.get_or_insert_with(|| {
            let filter = crate::store::DriftFilter {
                unresolved_only: true,
                ..crate::store::DriftFilter::default()
            };
            match store.drifts(&filter) {
                Ok(ds) => ds
                    .iter()
                    .flat_map(|d| resource_keys(d.address.as_deref(), &d.rtype, &d.resource_id))
                    .filter(|k| !k.is_empty())
                    .collect(),
                Err(e) => {
                    tracing::error!(error = %e, "Cannot read open drifts; reverts of earlier drifts are not recognised");
                    HashSet::new()
                }
            }
        }))
    }

    /// Whether the resource may have unresolved drifts.
    pub(super) fn may_have_drifts(&mut self, address: Option<&str>, rtype: &str, id: &str) -> bool {
        let keys = resource_keys(address, rtype, id);
        self.drifted_set()
            .is_some_and(|set| keys.iter().any(|k| !k.is_empty() && set.contains(k)))
    }

    /// Terraform changed something: remember which managed resources (their drifts resolve as
    /// `applied` when the refreshed state no longer holds the observed value), and resolve the
    /// drifts of a resource Terraform deleted right away.
    pub(super) fn terraform_change(&mut self, ev: &CloudEvent, stats: &mut Stats) {
        if self.store.is_none() {
            return;
        }
        let Lookup::Found(mapping) = self.catalog.lookup(ev) else {
            return;
        };
        let who = event_actor(ev);
        let at = ev.time.unwrap_or_else(chrono::Utc::now);
        let mut ops = Vec::new();
        for touch in map_event(ev, mapping) {
            let Some((change, r)) = touch
                .candidates
                .iter()
                .find_map(|c| locate(&self.state, c).map(|r| (c, r)))
            else {
                continue;
            };
            self.terraform_touched.insert(
                r.address.clone(),
                (who.clone(), at, std::time::Instant::now()),
            );
            if change.kind == crate::catalog::ChangeKind::Delete {
                ops.push(DriftOp::Resolve(Resolution {
                    target: crate::drift::Target::Resource(Selector {
                        address: Some(r.address.clone()),
                        rtype: r.rtype.clone(),
                        resource_id: r.id.clone().unwrap_or_default(),
                        attributes: None,
                        keep: Vec::new(),
                    }),
                    reason: Reason::Applied,
                    who: who.clone(),
                    at,
                    note: Some(format!("Terraform deleted it ({})", ev.action)),
                }));
            }
        }
        if ops.is_empty() || !matches!(self.seen_in_store(ev, stats), StoreSeen::No) {
            return;
        }
        stats.mapped += 1;
        self.staged.push(Staged {
            event_id: ev.id.clone(),
            operation: ev.operation.as_ref().map(|op| op.id.clone()),
            time: ev.time,
            alerts: Vec::new(),
            outbox: Vec::new(),
            drifts: ops,
        });
    }

    /// After a state refresh ([`Engine::set_state`]): resolves the unresolved drifts the new
    /// state settles, in one store transaction with their notifications — `accepted` (the
    /// state now holds the observed value, or now manages an unmanaged resource), `applied`
    /// (Terraform changed the resource since and the state no longer holds the observed value;
    /// or Terraform re-created a deleted resource under the same address), `gone` (the address
    /// left the state). Returns the drifts resolved.
    pub fn reconcile_drifts(&mut self, stats: &mut Stats) -> Vec<crate::drift::Drift> {
        let Some(store) = self.store.clone() else {
            return Vec::new();
        };
        if self.state.is_empty() {
            // An empty index is a load problem (or remote states still loading), not every
            // resource gone: settle nothing.
            return Vec::new();
        }
        let now = chrono::Utc::now();
        // Expiry by arrival, not by event time: a replay of last month's logs still pairs
        // Terraform's changes with the state refreshed after them.
        self.terraform_touched
            .retain(|_, (_, _, arrived)| arrived.elapsed() < TERRAFORM_PENDING);
        let filter = crate::store::DriftFilter {
            unresolved_only: true,
            ..crate::store::DriftFilter::default()
        };
        let open = match store.drifts(&filter) {
            Ok(d) => d,
            Err(e) => {
                stats.store_errors += 1;
                tracing::error!(error = %e, "Cannot read open drifts after the state refresh");
                return Vec::new();
            }
        };
        let resolutions: Vec<Resolution> = open
            .iter()
            .filter_map(|d| {
                let (reason, who, note) = settle(&self.state, d, &self.terraform_touched)?;
                Some(Resolution {
                    target: crate::drift::Target::Id(d.id.clone()),
                    reason,
                    who,
                    at: now,
                    note: Some(note.to_string()),
                })
            })
            .collect();
        match store.resolve_drifts(&resolutions) {
            Ok(done) => {
                if !done.is_empty() {
                    tracing::info!(resolved = done.len(), "State refresh resolved drifts");
                }
                done
            }
            Err(e) => {
                stats.store_errors += 1;
                tracing::error!(error = %e, "Resolving drifts after the state refresh failed; the next refresh retries");
                Vec::new()
            }
        }
    }
}

/// Who made an event's change, as drifts record it.
pub(super) fn event_actor(ev: &CloudEvent) -> Option<String> {
    ev.actor
        .arn
        .clone()
        .or_else(|| ev.actor.email.clone())
        .or_else(|| ev.actor.principal.clone())
}

/// The state value a drift's attribute is compared with (tags: `tags_all` first, as detection
/// compares them).
fn state_at<'a>(attrs: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    if let Some(key) = path.strip_prefix("tags.") {
        let v = crate::compare::get_path(attrs, &format!("tags_all.{key}"));
        if !v.is_null() {
            return v;
        }
    }
    crate::compare::get_path(attrs, path)
}

/// Address → (Terraform's identity, event time, when the event arrived).
pub(super) type Touched = HashMap<
    String,
    (
        Option<String>,
        chrono::DateTime<chrono::Utc>,
        std::time::Instant,
    ),
>;

/// Whether a refreshed state settles an unresolved drift, and how.
fn settle(
    state: &StateIndex,
    d: &crate::drift::Drift,
    touched: &Touched,
) -> Option<(Reason, Option<String>, &'static str)> {
    let Some(address) = &d.address else {
        // Unmanaged: settled once a state manages it (imported).
        return state
            .find(&d.rtype, &d.resource_id)
            .map(|_| (Reason::Accepted, None, "the refreshed state now manages it"));
    };
    let Some(r) = state.by_address(address) else {
        return Some((Reason::Gone, None, "the address left the refreshed state"));
    };
    let by_terraform = touched
        .get(address)
        .filter(|(_, at, _)| *at >= d.last_seen)
        .and_then(|(who, _, _)| who.clone());
    if d.attribute.is_empty() && d.kind != crate::alert::AlertKind::ManagedResourceDeleted.as_str()
    {
        return by_terraform_touch(touched, address, d.last_seen);
    }
    if d.attribute.is_empty() {
        // A deletion: settled when Terraform re-created it (the address holds another id, or
        // Terraform wrote to it since).
        let recreated = r.id.as_deref() != Some(d.resource_id.as_str())
            || touched
                .get(address)
                .is_some_and(|(_, at, _)| *at >= d.last_seen);
        return recreated.then_some((Reason::Applied, by_terraform, "Terraform re-created it"));
    }
    let now = state_at(&r.attributes, &d.attribute);
    if crate::compare::equivalent(now, &d.observed) {
        return Some((
            Reason::Accepted,
            None,
            "the refreshed state holds the observed value",
        ));
    }
    by_terraform_touch(touched, address, d.last_seen)
}

/// `applied` when Terraform changed the resource since the drift (its refreshed state is what
/// Terraform wrote).
fn by_terraform_touch(
    touched: &Touched,
    address: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Option<(Reason, Option<String>, &'static str)> {
    touched
        .get(address)
        .filter(|(_, at, _)| *at >= since)
        .map(|(who, _, _)| {
            (
                Reason::Applied,
                who.clone(),
                "Terraform applied; the refreshed state holds its value",
            )
        })
}
