//! Data-driven tests of the drift lifecycle: keys, the transition table, selectors, metrics.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::alert::Severity;
use serde_json::json;

fn t(min: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap()
}

fn occ(min: i64, sev: Severity, who: &str) -> Occurrence {
    let k = key(
        "",
        "aws",
        "aws_security_group",
        "sg-1",
        Some("aws_security_group.web"),
        "ingress",
    );
    Occurrence {
        id: id_of(&k),
        key: k,
        kind: AlertKind::AttributeDrift,
        provider: "aws".into(),
        rtype: "aws_security_group".into(),
        resource_id: "sg-1".into(),
        address: Some("aws_security_group.web".into()),
        attribute: "ingress".into(),
        at: t(min),
        actor: Some(who.into()),
        observed: json!(["22"]),
        state_value: json!(["443"]),
        severity: sev,
        rules: vec![format!("r-{min}")],
        alert_id: format!("tfd-{min}"),
    }
}

#[test]
fn key_and_id_are_stable_and_distinguish_attributes() {
    let k = key("", "aws", "aws_s3_bucket", "b", None, "tags.Env");
    assert_eq!(k, "|aws:aws_s3_bucket:b|tags.Env");
    assert_eq!(
        key("prod.tfstate", "aws", "t", "i", Some("aws_s3_bucket.b"), ""),
        "prod.tfstate|aws_s3_bucket.b|"
    );
    let id = id_of(&k);
    assert_eq!(id.len(), 28);
    assert!(id.starts_with("drf-"));
    assert_eq!(id, id_of(&k));
    assert_ne!(id, id_of("|aws:aws_s3_bucket:b|tags.Owner"));
}

/// One row per step: the input, then the expected status, episode, occurrences, severity,
/// event kind and notice.
#[test]
fn lifecycle_table() {
    type Step<'a> = (Input<'a>, Status, u32, u64, Severity, EventKind, Notice);
    let (o1, o2, o3, o4, o5, o6) = (
        occ(0, Severity::Medium, "alice"),
        occ(1, Severity::Medium, "bob"),
        occ(2, Severity::High, "alice"),
        occ(5, Severity::Critical, "carol"),
        occ(20, Severity::Low, "dave"),
        occ(30, Severity::Low, "erin"),
    );
    let steps: Vec<Step<'_>> = vec![
        (
            Input::Occur(&o1),
            Status::Open,
            1,
            1,
            Severity::Medium,
            EventKind::Opened,
            Notice::Opened,
        ),
        (
            Input::Occur(&o2),
            Status::Open,
            1,
            2,
            Severity::Medium,
            EventKind::Occurred,
            Notice::Quiet,
        ),
        (
            Input::Occur(&o3),
            Status::Open,
            1,
            3,
            Severity::High,
            EventKind::SeverityRaised,
            Notice::Updated,
        ),
        (
            Input::Ack {
                who: "ops",
                at: t(3),
            },
            Status::Acknowledged,
            1,
            3,
            Severity::High,
            EventKind::Acknowledged,
            Notice::Quiet,
        ),
        (
            Input::Snooze {
                who: "ops",
                until: t(10),
                at: t(4),
            },
            Status::Snoozed,
            1,
            3,
            Severity::High,
            EventKind::Snoozed,
            Notice::Quiet,
        ),
        // Muted: even a severity rise stays quiet while snoozed.
        (
            Input::Occur(&o4),
            Status::Snoozed,
            1,
            4,
            Severity::Critical,
            EventKind::SeverityRaised,
            Notice::Quiet,
        ),
        // The snooze ended: channels hear again.
        (
            Input::Occur(&o5),
            Status::Open,
            1,
            5,
            Severity::Critical,
            EventKind::Occurred,
            Notice::Updated,
        ),
        (
            Input::Resolve {
                reason: Reason::Reverted,
                who: Some("alice"),
                at: t(25),
                note: None,
            },
            Status::Resolved,
            1,
            5,
            Severity::Critical,
            EventKind::Resolved,
            Notice::Resolved,
        ),
        // Recurrence reopens: same drift, next episode, severity starts over.
        (
            Input::Occur(&o6),
            Status::Open,
            2,
            6,
            Severity::Low,
            EventKind::Reopened,
            Notice::Opened,
        ),
    ];
    let mut cur: Option<Drift> = None;
    for (i, (input, status, episode, n, sev, kind, notice)) in steps.into_iter().enumerate() {
        let tr = apply(cur.as_ref(), &input).unwrap_or_else(|| panic!("step {i}: no transition"));
        assert_eq!(tr.drift.status, status, "step {i}");
        assert_eq!(tr.drift.episode, episode, "step {i}");
        assert_eq!(tr.drift.occurrences, n, "step {i}");
        assert_eq!(tr.drift.severity, sev, "step {i}");
        assert_eq!(tr.events.len(), 1, "step {i}");
        assert_eq!(tr.events[0].kind, kind, "step {i}");
        assert_eq!(tr.notice, notice, "step {i}");
        cur = Some(tr.drift);
    }
    let d = cur.unwrap();
    assert_eq!(d.first_seen, t(0));
    assert_eq!(d.last_seen, t(30));
    assert_eq!(d.actors, ["bob", "alice", "carol", "dave", "erin"]);
    assert!(d.resolved_reason.is_none());
}

#[test]
fn metrics_count_open_by_severity_and_resolved_by_reason() {
    let a = apply(None, &Input::Occur(&occ(0, Severity::High, "alice")))
        .unwrap()
        .drift;
    let mut b = occ(1, Severity::Low, "bob");
    b.key = "other".into();
    b.id = id_of("other");
    let b = apply(None, &Input::Occur(&b)).unwrap().drift;
    let r = Input::Resolve {
        reason: Reason::Reverted,
        who: None,
        at: t(2),
        note: None,
    };
    let b = apply(Some(&b), &r).unwrap().drift;
    let text = metrics_text(&[a, b], t(10));
    assert!(
        text.contains("tfdrift_drifts_open{severity=\"high\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("tfdrift_drifts_open{severity=\"low\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("tfdrift_drift_oldest_open_seconds 600\n"),
        "{text}"
    );
    assert!(text.contains("tfdrift_drifts_opened_total 2\n"), "{text}");
    assert!(
        text.contains("tfdrift_drifts_resolved_total{reason=\"reverted\"} 1\n"),
        "{text}"
    );
}

#[test]
fn resolving_twice_or_unknown_changes_nothing() {
    let o = occ(0, Severity::High, "alice");
    let r = Input::Resolve {
        reason: Reason::Manual,
        who: Some("ops"),
        at: t(1),
        note: None,
    };
    assert!(apply(None, &r).is_none());
    let open = apply(None, &Input::Occur(&o)).unwrap().drift;
    let done = apply(Some(&open), &r).unwrap();
    assert_eq!(done.drift.resolved_reason, Some(Reason::Manual));
    assert_eq!(done.drift.resolved_by.as_deref(), Some("ops"));
    assert!(apply(Some(&done.drift), &r).is_none());
    assert!(apply(Some(&done.drift), &Input::Ack { who: "x", at: t(2) }).is_none());
}

type Case<'a> = (&'a str, Option<Vec<&'a str>>, Vec<&'a str>, bool);

#[test]
fn selectors() {
    let o = occ(0, Severity::High, "alice");
    let mut d = apply(None, &Input::Occur(&o)).unwrap().drift;
    let sel = |attrs: Option<Vec<&str>>, keep: Vec<&str>| Selector {
        address: Some("aws_security_group.web".into()),
        rtype: "aws_security_group".into(),
        resource_id: "other-id".into(),
        attributes: attrs.map(|v| v.into_iter().map(String::from).collect()),
        keep: keep.into_iter().map(String::from).collect(),
    };
    let cases: Vec<Case<'_>> = vec![
        ("ingress", None, vec![], true),
        ("ingress", Some(vec!["ingress"]), vec![], true),
        ("ingress", Some(vec!["egress"]), vec![], false),
        ("ingress", Some(vec!["ingress"]), vec!["ingress"], false),
        ("tags.Env", Some(vec!["tags"]), vec![], true),
        ("tags_all.Env", Some(vec!["tags"]), vec![], false),
        ("", Some(vec!["tags"]), vec![], false),
        ("", None, vec![], true),
    ];
    for (attr, attrs, keep, want) in &cases {
        d.attribute = (*attr).into();
        assert_eq!(
            sel(attrs.clone(), keep.clone()).selects(&d),
            *want,
            "{attr} {attrs:?} {keep:?}"
        );
    }
    // Any change that went through ends a deletion drift (the resource exists again).
    d.kind = AlertKind::ManagedResourceDeleted.as_str().into();
    d.attribute = String::new();
    assert!(sel(Some(vec!["tags"]), vec![]).selects(&d));
    // Another resource: never.
    let mut other = sel(None, vec![]);
    other.address = Some("aws_security_group.db".into());
    assert!(!other.selects(&d));
}

#[test]
fn alerts_give_one_occurrence_per_diff() {
    let mut a = crate::notify::sample_alert();
    a.diffs.push(crate::alert::Diff {
        path: "tags.Env".into(),
        state: json!("prod"),
        observed: json!("dev"),
    });
    let occ = occurrences(&a, "");
    assert_eq!(occ.len(), 2);
    assert_eq!(occ[1].attribute, "tags.Env");
    stamp(&mut a, &occ);
    assert_eq!(a.drift_id.as_deref(), Some(occ[0].id.as_str()));
    assert_eq!(a.drift_ids.len(), 2);
    a.kind = AlertKind::ManagedResourceDeleted;
    let occ = occurrences(&a, "");
    assert_eq!(occ.len(), 1);
    assert_eq!(occ[0].attribute, "");
    stamp(&mut a, &occ);
    assert!(a.drift_ids.is_empty());
}
