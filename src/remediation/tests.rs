//! The approval decision and the profile key.

use super::*;

fn request() -> Remediation {
    let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    Remediation {
        id: 4,
        drift_id: "drf-1".into(),
        kind: Kind::Restore,
        note: String::new(),
        workspace: "shop".into(),
        address: "aws_sqs_queue.jobs".into(),
        requested_by: "rita".into(),
        requested_at: at,
        expires_at: at + chrono::Duration::minutes(15),
        plan_path: "/tmp/p".into(),
        plan_sha256: "abc".into(),
        plan_text: String::new(),
        drift_fingerprint: "fp".into(),
        status: Status::Pending,
        approvers: Vec::new(),
        decided_by: None,
        decided_at: None,
        output: String::new(),
        reason: None,
    }
}

fn now(r: &Remediation) -> Now<'static> {
    Now {
        caller: "ada",
        at: r.requested_at + chrono::Duration::minutes(1),
        newest_for_drift: r.id,
        drift: Some(("fp".into(), false)),
        plan_sha256: Some("abc".into()),
    }
}

#[test]
fn an_admin_other_than_the_requester_may_approve_a_fresh_plan() {
    let r = request();
    assert_eq!(check_approval(&r, &now(&r)), Ok(()));
}

#[test]
fn every_refusal_names_its_reason() {
    let r = request();
    let cases: Vec<(Now<'static>, &str, Option<Status>)> = vec![
        (
            Now {
                caller: "rita",
                ..now(&r)
            },
            "requested by 'rita'",
            None,
        ),
        (
            Now {
                at: r.expires_at,
                ..now(&r)
            },
            "expired",
            Some(Status::Expired),
        ),
        (
            Now {
                newest_for_drift: 9,
                ..now(&r)
            },
            "newer request (9)",
            Some(Status::Superseded),
        ),
        (
            Now {
                drift: Some(("fp".into(), true)),
                ..now(&r)
            },
            "was resolved",
            Some(Status::Superseded),
        ),
        (
            Now {
                drift: Some(("other".into(), false)),
                ..now(&r)
            },
            "changed since",
            Some(Status::Superseded),
        ),
        (
            Now {
                drift: None,
                ..now(&r)
            },
            "no longer in the store",
            Some(Status::Superseded),
        ),
        (
            Now {
                plan_sha256: Some("tampered".into()),
                ..now(&r)
            },
            "sha256 mismatch",
            Some(Status::Superseded),
        ),
        (
            Now {
                plan_sha256: None,
                ..now(&r)
            },
            "sha256 mismatch",
            Some(Status::Superseded),
        ),
    ];
    for (n, want, status) in cases {
        let e = check_approval(&r, &n).unwrap_err();
        assert!(e.to_string().contains(want), "{e} should say {want}");
        assert_eq!(e.status(), status, "{e}");
    }
    let mut twice = request();
    twice.approvers.push("ada".into());
    assert!(matches!(
        check_approval(&twice, &now(&twice)),
        Err(Refusal::AlreadyApproved { .. })
    ));
    let mut done = request();
    done.status = Status::Applied;
    assert!(
        check_approval(&done, &now(&done))
            .unwrap_err()
            .to_string()
            .contains("is applied")
    );
}

#[test]
fn profile_key_defaults_and_validation() {
    #[derive(Deserialize)]
    struct P {
        #[serde(default)]
        remediation: RemediationSettings,
    }
    let p: P = serde_saphyr::from_str("{}").unwrap();
    assert_eq!(p.remediation, RemediationSettings::default());
    assert!(!p.remediation.enabled);
    let p: P = serde_saphyr::from_str("remediation: {enabled: true, approvals: 2, plan_ttl: 30s}")
        .unwrap();
    assert_eq!(p.remediation.approvals, 2);
    assert_eq!(p.remediation.plan_ttl, Duration::from_secs(30));
    for (bad, want) in [
        ("remediation: {approvals: 0}", "remediation.approvals"),
        ("remediation: {plan_ttl: 10x}", "remediation.plan_ttl"),
        ("remediation: {plan_ttl: 0s}", "remediation.plan_ttl"),
        ("remediation: {enable: true}", "enable"),
    ] {
        let e = serde_saphyr::from_str::<P>(bad).err().unwrap().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn output_is_masked() {
    let text = "aws_iam_access_key.k: key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let m = mask_output(text);
    assert!(
        !m.contains("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "{m}"
    );
}
