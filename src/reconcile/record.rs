//! From a refresh-only plan to the store: Terraform's `resource_drift` becomes alerts (event
//! service `reconcile`) and drift occurrences with the events' drift keys, recorded in one
//! group commit like the pipeline's; refresh noise and `ignore_changes` attributes are left
//! out (the latter counted); open drifts of the workspace that the plan finds in sync are
//! resolved `reconciled`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::attribution::{Subject, attribute};
use super::exec::Planned;
use super::plan::{ResourceChange, attribute_diffs, is_noise, overlaps};
use super::{
    Attribution, Context, EVENT_NAME, IgnoredDrift, ReconciledDrift, SOURCE, Target,
    WorkspaceReport, scope_of, service_of,
};
use crate::alert::{ActorRef, Alert, AlertKind, Diff, EventRef, ResourceRef, SCHEMA};
use crate::compare::get_path;
use crate::drift::{Drift, DriftOp, Reason, Resolution};
use crate::rules::{EvalContext, Verdict};
use crate::store::workspace_runs::{RunResult, WorkspaceRun};
use crate::store::{DriftFilter, EventRecord, OutboxItem, Store};

/// The stored row of a report.
#[must_use]
pub fn run_row(r: &WorkspaceReport) -> WorkspaceRun {
    WorkspaceRun {
        id: 0,
        workspace: r.workspace.clone(),
        started_at: r.started_at,
        duration_ms: r.duration_ms,
        result: r.result,
        drifted: r.drifts.len() as u64,
        unattributed: r.unattributed(),
        ignored: r.ignored_by_config.len() as u64,
        resolved: r.resolved.len() as u64,
        error: r.error.clone(),
        report: serde_json::to_value(r).unwrap_or_default(),
    }
}

/// A reconcile diff moved onto an open drift's attribute when the two overlap, so the occurrence
/// lands on the drift the event opened (`ingress` vs `ingress.0.cidr_blocks`).
fn align(diffs: Vec<Diff>, open: &[&Drift], c: &ResourceChange) -> Vec<Diff> {
    let mut out: Vec<Diff> = Vec::new();
    for d in diffs {
        let target = open.iter().find(|o| {
            !o.attribute.is_empty() && o.attribute != d.path && overlaps(&o.attribute, &d.path)
        });
        let moved = match target {
            Some(o) => Diff {
                path: o.attribute.clone(),
                state: get_path(&c.before, &o.attribute).clone(),
                observed: get_path(&c.after, &o.attribute).clone(),
            },
            None => d,
        };
        if !out.iter().any(|x| x.path == moved.path) {
            out.push(moved);
        }
    }
    out
}

fn alert_for(
    ctx: &Context,
    c: &ResourceChange,
    kind: AlertKind,
    diffs: Vec<Diff>,
    run_event: &str,
    started: DateTime<Utc>,
    who: Option<&Alert>,
) -> Option<Alert> {
    let id = c.id();
    let mut alert = Alert {
        schema: SCHEMA.into(),
        id: crate::pipeline::assemble::alert_id(run_event, &c.rtype, &id, kind.as_str()),
        time: started,
        kind,
        severity: ctx.default_severity,
        provider: c.provider.clone(),
        resource: ResourceRef {
            rtype: c.rtype.clone(),
            id,
            address: Some(c.address.clone()),
            managed: true,
        },
        diffs,
        event: EventRef {
            id: run_event.to_string(),
            name: EVENT_NAME.into(),
            service: SOURCE.into(),
            time: Some(started),
            time_source: None,
            region: None,
            account: None,
        },
        actor: who.map_or_else(ActorRef::default, |a| a.actor.clone()),
        rules: Vec::new(),
        remediation: Vec::new(),
        runbook: None,
        enrichment: crate::alert::Enrichment {
            identity: who
                .map(|a| a.enrichment.identity.clone())
                .unwrap_or_default(),
            ..crate::alert::Enrichment::default()
        },
        drift_id: None,
        drift_ids: Vec::new(),
        attribution: None,
    };
    let tags = c.before.get("tags").and_then(Value::as_object);
    let verdict = ctx.rules.apply(
        &mut alert,
        &EvalContext {
            default_severity: ctx.default_severity,
            today: started.date_naive(),
            tags,
        },
    );
    matches!(verdict, Verdict::Keep).then_some(alert)
}

/// The attribution line an alert's notification carries: one attribute's, or each attribute's
/// when they differ (`ingress: changed by alice …; tags.Env: no event seen`).
fn attribution_line(attributions: &[(String, Attribution, Option<Alert>)]) -> String {
    let lines: Vec<String> = attributions.iter().map(|(_, a, _)| a.line()).collect();
    if lines.windows(2).all(|w| w[0] == w[1]) {
        return lines
            .into_iter()
            .next()
            .unwrap_or_else(|| "no event seen".into());
    }
    attributions
        .iter()
        .zip(lines)
        .map(|((attr, _, _), line)| format!("{attr}: {line}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Analyses a plan, records its drifts and resolutions, and returns the report (the run row is
/// written by the caller).
#[must_use]
pub fn analyse_and_record(
    ctx: &Context,
    target: &Target,
    planned: &Planned,
    started: DateTime<Utc>,
    duration_ms: u64,
) -> WorkspaceReport {
    let mut report = WorkspaceReport {
        result: RunResult::InSync,
        error: None,
        ..WorkspaceReport::error(target, started, duration_ms, String::new())
    };
    report
        .warnings
        .extend(planned.stream.warnings.iter().cloned());
    if planned.doc.unreadable + planned.stream.unreadable > 0 {
        report.warnings.push(format!(
            "{} entries of Terraform's output were not understood and skipped",
            planned.doc.unreadable + planned.stream.unreadable
        ));
    }
    let store: Option<Arc<dyn Store>> = ctx.store.clone();
    let open: Vec<Drift> = match &store {
        Some(s) => s
            .drifts(&DriftFilter {
                unresolved_only: true,
                ..DriftFilter::default()
            })
            .unwrap_or_else(|e| {
                report
                    .warnings
                    .push(format!("cannot read open drifts: {e}"));
                Vec::new()
            }),
        None => Vec::new(),
    };
    let run_event = format!("{SOURCE}:{}:{}", target.name, started.timestamp_millis());
    let mut staged: Vec<(String, Alert, Vec<DriftOp>)> = Vec::new();
    let doc = &planned.doc;
    for c in doc.drift.iter().filter(|c| c.is_change()) {
        let id = c.id();
        let scope = scope_of(&ctx.state, &c.address, &id, &c.rtype, &target.name);
        let (kind, diffs) = if c.is_delete() {
            // Never ignored: Terraform re-creates a deleted resource whatever ignore_changes says.
            (AlertKind::ManagedResourceDeleted, Vec::new())
        } else {
            let mut diffs = Vec::new();
            for d in attribute_diffs(c) {
                if is_noise(doc, c, &d.path) {
                    report.noise += 1;
                } else if ctx.ignore.ignores(&c.address, &d.path) {
                    report.ignored_by_config.push(IgnoredDrift {
                        address: c.address.clone(),
                        attribute: d.path.clone(),
                    });
                } else {
                    diffs.push(d);
                }
            }
            let mine: Vec<&Drift> = open
                .iter()
                .filter(|d| d.address.as_deref() == Some(c.address.as_str()))
                .collect();
            (AlertKind::AttributeDrift, align(diffs, &mine, c))
        };
        if kind == AlertKind::AttributeDrift && diffs.is_empty() {
            continue;
        }
        let attributions: Vec<(String, Attribution, Option<Alert>)> = {
            let attrs: Vec<String> = if diffs.is_empty() {
                vec![String::new()]
            } else {
                diffs.iter().map(|d| d.path.clone()).collect()
            };
            attrs
                .into_iter()
                .map(|attr| {
                    let Some(s) = &store else {
                        return (attr, Attribution::default(), None);
                    };
                    let subject = Subject {
                        rtype: &c.rtype,
                        id: &id,
                        address: &c.address,
                        attribute: &attr,
                        deleted: kind == AlertKind::ManagedResourceDeleted,
                    };
                    let a = attribute(s.as_ref(), &subject, started, &open);
                    let alert = a
                        .alert_id
                        .as_deref()
                        .and_then(|id| s.alert(id).ok().flatten());
                    (attr, a, alert)
                })
                .collect()
        };
        let who = attributions.iter().find_map(|(_, _, a)| a.as_ref());
        let Some(mut alert) = alert_for(ctx, c, kind, diffs.clone(), &run_event, started, who)
        else {
            continue;
        };
        alert.attribution = Some(attribution_line(&attributions));
        let occurrences = crate::drift::occurrences(&alert, &scope);
        crate::drift::stamp(&mut alert, &occurrences);
        let service = service_of(&ctx.services, &c.rtype);
        for (occ, (attr, attribution, _)) in occurrences.iter().zip(&attributions) {
            let diff = diffs.iter().find(|d| d.path == *attr);
            if !attribution.seen {
                *report
                    .unattributed_by_service
                    .entry(service.clone())
                    .or_insert(0) += 1;
            }
            report.drifts.push(ReconciledDrift {
                address: c.address.clone(),
                rtype: c.rtype.clone(),
                resource_id: id.clone(),
                attribute: attr.clone(),
                kind: kind.as_str().into(),
                state: diff.map_or(Value::Null, |d| d.state.clone()),
                observed: diff.map_or(Value::Null, |d| d.observed.clone()),
                drift_id: occ.id.clone(),
                severity: alert.severity,
                service: service.clone(),
                attribution: attribution.clone(),
                alert_id: store.is_some().then(|| alert.id.clone()),
            });
        }
        let ops = occurrences
            .into_iter()
            .map(|o| DriftOp::Occur(Box::new(o)))
            .collect();
        staged.push((format!("{run_event}:{}", c.address), alert, ops));
    }
    if let Some(s) = &store {
        let keys: Vec<[&str; 1]> = staged.iter().map(|(k, _, _)| [k.as_str()]).collect();
        // Routed as the events' alerts are: the store keeps an item only for a channel the
        // drift has not told yet (its first notification), in the same transaction.
        let outboxes: Vec<Vec<OutboxItem>> = staged
            .iter()
            .map(|(_, alert, _)| {
                ctx.router
                    .as_ref()
                    .map_or_else(Vec::new, |r| r.route(alert))
            })
            .collect();
        let batch: Vec<EventRecord<'_>> = staged
            .iter()
            .zip(&keys)
            .zip(&outboxes)
            .map(|(((_, alert, ops), key), outbox)| EventRecord {
                seen: key,
                time: Some(started),
                alerts: std::slice::from_ref(alert),
                outbox,
                drifts: ops,
            })
            .collect();
        if let Err(e) = s.record_batch(&batch) {
            report
                .warnings
                .push(format!("the drifts were not recorded: {e}"));
        }
        report.resolved = resolve_in_sync(ctx, s.as_ref(), target, doc, &open, &report, started);
    }
    report.result = if report.drifts.is_empty() {
        RunResult::InSync
    } else {
        RunResult::Drifted
    };
    report
}

/// Resolves (`reconciled`) the open drifts of this workspace's resources that the plan found in
/// sync; returns their ids.
fn resolve_in_sync(
    ctx: &Context,
    store: &dyn Store,
    target: &Target,
    doc: &super::plan::PlanDoc,
    open: &[Drift],
    report: &WorkspaceReport,
    now: DateTime<Utc>,
) -> Vec<String> {
    let refreshed: HashSet<&str> = doc
        .prior_addresses
        .iter()
        .map(String::as_str)
        .chain(doc.drift.iter().map(|c| c.address.as_str()))
        .collect();
    let mut drifted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for d in &report.drifts {
        drifted.entry(&d.address).or_default().push(&d.attribute);
    }
    let resolutions: Vec<Resolution> = open
        .iter()
        .filter(|d| {
            let Some(address) = d.address.as_deref() else {
                return false;
            };
            if !refreshed.contains(address) || ctx.ignore.ignores(address, &d.attribute) {
                return false;
            }
            let scope = scope_of(&ctx.state, address, &d.resource_id, &d.rtype, &target.name);
            if !d.key.starts_with(&format!("{scope}|")) {
                return false;
            }
            let still = drifted.get(address).is_some_and(|attrs| {
                d.attribute.is_empty()
                    || attrs
                        .iter()
                        .any(|a| a.is_empty() || overlaps(a, &d.attribute))
            });
            !still
        })
        .map(|d| Resolution {
            target: crate::drift::Target::Id(d.id.clone()),
            reason: Reason::Reconciled,
            who: None,
            at: now,
            note: Some(format!("{EVENT_NAME} of {} found it in sync", target.name)),
        })
        .collect();
    match store.resolve_drifts(&resolutions) {
        Ok(done) => done.into_iter().map(|d| d.id).collect(),
        Err(e) => {
            tracing::error!(error = %e, "Cannot resolve reconciled drifts");
            Vec::new()
        }
    }
}
