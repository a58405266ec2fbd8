//! `tfdrift explain`: for every resource a saved plan changes, whether applying it would revert
//! an out-of-band change that is still an open drift — with who, when and via what — or is a
//! code change. A plan that updates an attribute an open drift is on sets it back to the
//! configuration; one that (re-)creates a resource whose deletion is an open drift puts it
//! back; a replacement reverts every drift of the resource.

use std::fmt::Write as _;

use serde::Serialize;

use super::Attribution;
use super::plan::{PlanDoc, attribute_diffs, overlaps};
use crate::alert::{AlertKind, Severity};
use crate::drift::Drift;

/// An open drift the apply would revert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revert {
    /// Drift id.
    pub drift_id: String,
    /// Attribute ("" for a deletion).
    pub attribute: String,
    /// Drift severity.
    pub severity: Severity,
    /// Who, when, via what.
    pub attribution: Attribution,
}

/// One resource change of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explained {
    /// Address.
    pub address: String,
    /// Terraform's actions.
    pub actions: Vec<String>,
    /// Attributes the plan changes (updates).
    pub attributes: Vec<String>,
    /// Open drifts it reverts.
    pub reverts: Vec<Revert>,
    /// Attributes (or the whole change) that are no drift: code changes.
    pub code_changes: Vec<String>,
}

/// Explains every change of `doc` against the open drifts; `attribution` finds who made each.
pub fn explain(
    doc: &PlanDoc,
    open: &[Drift],
    attribution: &mut dyn FnMut(&Drift) -> Attribution,
) -> Vec<Explained> {
    let mut out = Vec::new();
    for c in doc.changes.iter().filter(|c| c.is_change()) {
        let creates = c.actions.iter().any(|a| a == "create");
        let deletes = c.actions.iter().any(|a| a == "delete");
        let replace = creates && deletes;
        let attributes: Vec<String> = if creates || deletes {
            Vec::new()
        } else {
            attribute_diffs(c).into_iter().map(|d| d.path).collect()
        };
        let mine = open
            .iter()
            .filter(|d| d.is_unresolved() && d.address.as_deref() == Some(c.address.as_str()));
        let mut reverts = Vec::new();
        for d in mine {
            let deletion = d.kind == AlertKind::ManagedResourceDeleted.as_str();
            let hit = if deletion {
                creates
            } else if replace {
                true
            } else {
                !d.attribute.is_empty() && attributes.iter().any(|p| overlaps(p, &d.attribute))
            };
            if hit {
                reverts.push(Revert {
                    drift_id: d.id.clone(),
                    attribute: d.attribute.clone(),
                    severity: d.severity,
                    attribution: attribution(d),
                });
            }
        }
        let code_changes = if creates || deletes {
            if reverts.is_empty() {
                vec![c.actions.join("/")]
            } else {
                Vec::new()
            }
        } else {
            attributes
                .iter()
                .filter(|p| !reverts.iter().any(|r| overlaps(&r.attribute, p)))
                .cloned()
                .collect()
        };
        out.push(Explained {
            address: c.address.clone(),
            actions: c.actions.clone(),
            attributes,
            reverts,
            code_changes,
        });
    }
    out
}

/// Whether any revert is at or above `min`.
#[must_use]
pub fn blocks(explained: &[Explained], min: Severity) -> bool {
    explained
        .iter()
        .flat_map(|e| &e.reverts)
        .any(|r| r.severity >= min)
}

fn who(a: &Attribution) -> String {
    if !a.seen {
        return "an out-of-band change (no event seen)".into();
    }
    let actor = a.actor.as_deref().unwrap_or("someone");
    let short = actor.rsplit('/').next().unwrap_or(actor);
    let mut s = format!("{short}'s");
    if let Some(v) = &a.via {
        let _ = write!(s, " {v}");
    }
    s.push_str(" change");
    if let Some(at) = a.at {
        let _ = write!(s, " of {}", at.format("%Y-%m-%d %H:%M UTC"));
    }
    s
}

/// One line per revert and per code change; `markdown` for a PR comment.
#[must_use]
pub fn render(explained: &[Explained], markdown: bool) -> String {
    let mut lines = Vec::new();
    let reverts: usize = explained.iter().map(|e| e.reverts.len()).sum();
    if markdown {
        lines.push("### tfdrift explain".to_string());
        lines.push(String::new());
        lines.push(format!(
            "{} resource change(s); **{reverts}** would revert an open out-of-band change.",
            explained.len()
        ));
        lines.push(String::new());
    }
    for e in explained {
        for r in &e.reverts {
            let what = if r.attribute.is_empty() {
                "(deletion)".to_string()
            } else {
                r.attribute.clone()
            };
            let alert = r
                .attribution
                .alert_id
                .as_deref()
                .map(|a| format!(", alert {a}"))
                .unwrap_or_default();
            let line = format!(
                "REVERT  this apply reverts {} to {} {what} ({}{alert}; drift {})",
                who(&r.attribution),
                e.address,
                r.severity.as_str(),
                r.drift_id
            );
            lines.push(if markdown {
                format!("- :warning: {}", line.trim_start_matches("REVERT  "))
            } else {
                line
            });
        }
        if !e.code_changes.is_empty() {
            let actions = e.actions.join("/");
            let what = if e.code_changes == [actions.clone()] {
                String::new()
            } else {
                format!(": {}", e.code_changes.join(", "))
            };
            let line = format!(
                "CODE    {} {actions}{what} (no open drift: a code change)",
                e.address
            );
            lines.push(if markdown {
                format!("- {}", line.trim_start_matches("CODE    "))
            } else {
                line
            });
        }
    }
    if explained.is_empty() {
        lines.push("The plan changes nothing.".into());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::plan::ResourceChange;
    use serde_json::json;

    fn drift(address: &str, attribute: &str, kind: AlertKind, sev: Severity) -> Drift {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Drift {
            id: format!("drf-{address}-{attribute}"),
            key: String::new(),
            kind: kind.as_str().into(),
            provider: "aws".into(),
            rtype: "aws_security_group".into(),
            resource_id: "sg-1".into(),
            address: Some(address.into()),
            attribute: attribute.into(),
            status: crate::drift::Status::Open,
            snoozed_until: None,
            first_seen: t,
            last_seen: t,
            occurrences: 1,
            episode: 1,
            actors: vec!["alice".into()],
            observed: json!(null),
            state_value: json!(null),
            severity: sev,
            rules: Vec::new(),
            last_alert_id: "tfd-1".into(),
            resolved_at: None,
            resolved_reason: None,
            resolved_by: None,
            updated_at: t,
            channels: Vec::new(),
        }
    }

    fn change(
        address: &str,
        actions: &[&str],
        before: serde_json::Value,
        after: serde_json::Value,
    ) -> ResourceChange {
        ResourceChange {
            address: address.into(),
            rtype: "aws_security_group".into(),
            provider: "aws".into(),
            actions: actions.iter().map(|s| (*s).to_string()).collect(),
            before,
            after,
            sensitive: Vec::new(),
        }
    }

    #[test]
    fn reverts_and_code_changes() {
        let doc = PlanDoc {
            changes: vec![
                change(
                    "aws_security_group.web",
                    &["update"],
                    json!({"ingress": [1, 2], "description": "a"}),
                    json!({"ingress": [1], "description": "b"}),
                ),
                change(
                    "aws_sqs_queue.new",
                    &["create"],
                    json!(null),
                    json!({"name": "n"}),
                ),
                change(
                    "aws_vpc.gone",
                    &["create"],
                    json!(null),
                    json!({"cidr_block": "10.0.0.0/16"}),
                ),
                change("aws_s3_bucket.same", &["no-op"], json!({}), json!({})),
            ],
            ..PlanDoc::default()
        };
        let open = vec![
            drift(
                "aws_security_group.web",
                "ingress",
                AlertKind::AttributeDrift,
                Severity::High,
            ),
            drift(
                "aws_security_group.web",
                "tags.Env",
                AlertKind::AttributeDrift,
                Severity::Critical,
            ),
            drift(
                "aws_vpc.gone",
                "",
                AlertKind::ManagedResourceDeleted,
                Severity::Low,
            ),
        ];
        let mut attr = |d: &Drift| Attribution {
            seen: true,
            actor: d.actors.last().cloned(),
            via: Some("console".into()),
            at: Some(d.last_seen),
            alert_id: Some(d.last_alert_id.clone()),
            event: None,
        };
        let e = explain(&doc, &open, &mut attr);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].reverts.len(), 1);
        assert_eq!(e[0].reverts[0].attribute, "ingress");
        assert_eq!(e[0].code_changes, vec!["description"]);
        assert!(e[1].reverts.is_empty());
        assert_eq!(e[1].code_changes, vec!["create"]);
        assert_eq!(e[2].reverts[0].severity, Severity::Low);
        assert!(blocks(&e, Severity::High));
        assert!(!blocks(&e, Severity::Critical));
        let text = render(&e, false);
        assert!(text.contains("reverts alice's console change of 2023-11-14 22:13 UTC to aws_security_group.web ingress (high, alert tfd-1"), "{text}");
        assert!(text.contains("CODE    aws_sqs_queue.new create"), "{text}");
        assert!(render(&e, true).starts_with("### tfdrift explain"));
    }
}
