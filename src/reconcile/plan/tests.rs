//! Data-driven cases for the plan readers: each case is an input and what must come out.

use super::*;
use serde_json::json;

#[test]
fn stream_cases() {
    // (stream text, drift, planned, errors, unreadable, completed)
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
        usize,
        bool,
    );
    let cases: &[Case<'_>] = &[
        (
            r#"{"@level":"info","type":"version","terraform":"1.11.4"}
{"@level":"info","type":"resource_drift","change":{"resource":{"addr":"aws_sqs_queue.jobs","resource_type":"aws_sqs_queue"},"action":"update"}}
{"@level":"info","type":"resource_drift","change":{"resource":{"addr":"module.net.aws_vpc.main"},"action":"delete"}}
{"@level":"info","type":"change_summary","changes":{"add":0,"change":0,"remove":0,"operation":"plan"}}"#,
            &[
                ("aws_sqs_queue.jobs", "update"),
                ("module.net.aws_vpc.main", "delete"),
            ],
            &[],
            &[],
            0,
            true,
        ),
        (
            r#"{"@level":"error","type":"diagnostic","diagnostic":{"severity":"error","summary":"No valid credential sources found","detail":"Please see https://registry.terraform.io/providers/hashicorp/aws\nfor more information."}}"#,
            &[],
            &[],
            &[
                "No valid credential sources found: Please see https://registry.terraform.io/providers/hashicorp/aws for more information.",
            ],
            0,
            false,
        ),
        (
            "not json\n[1,2]\n{\"no_type\":1}\n{\"type\":\"resource_drift\",\"change\":{}}\n\n",
            &[],
            &[],
            &[],
            4,
            false,
        ),
        (
            r#"{"type":"planned_change","change":{"resource":{"addr":"aws_s3_bucket.b"},"action":"create"}}
{"type":"diagnostic","@level":"warning","diagnostic":{"severity":"warning","summary":"Deprecated"}}"#,
            &[],
            &[("aws_s3_bucket.b", "create")],
            &[],
            0,
            false,
        ),
    ];
    for (i, (text, drift, planned, errors, unreadable, completed)) in cases.iter().enumerate() {
        let r = parse_stream(text);
        let pairs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };
        let want = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
                .collect()
        };
        assert_eq!(pairs(&r.drift), want(drift), "case {i}");
        assert_eq!(pairs(&r.planned), want(planned), "case {i}");
        assert_eq!(
            r.errors,
            errors.iter().map(|s| (*s).to_string()).collect::<Vec<_>>(),
            "case {i}"
        );
        assert_eq!(r.unreadable, *unreadable, "case {i}");
        assert_eq!(r.completed, *completed, "case {i}");
    }
}

fn change(rtype: &str, before: Value, after: Value) -> ResourceChange {
    ResourceChange {
        address: format!("{rtype}.x"),
        rtype: rtype.into(),
        provider: "aws".into(),
        actions: vec!["update".into()],
        before,
        after,
        sensitive: Vec::new(),
    }
}

#[test]
fn diff_cases() {
    // (type, before, after, expected paths)
    let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
        (
            "aws_sqs_queue",
            json!({"id": "q", "visibility_timeout_seconds": 30, "tags": {}}),
            json!({"id": "q", "visibility_timeout_seconds": 45, "tags": {}}),
            vec!["visibility_timeout_seconds"],
        ),
        (
            "aws_vpc",
            json!({"tags": {"Name": "a"}, "tags_all": {"Name": "a", "Team": "p"}}),
            json!({"tags": {"Name": "a", "Env": "x"}, "tags_all": {"Name": "a", "Team": "p", "Env": "x"}}),
            vec!["tags.Env"],
        ),
        (
            "aws_dynamodb_table",
            json!({"point_in_time_recovery": [{"enabled": false, "recovery_period_in_days": 0}]}),
            json!({"point_in_time_recovery": [{"enabled": true, "recovery_period_in_days": 0}]}),
            vec!["point_in_time_recovery.0.enabled"],
        ),
        (
            "aws_security_group",
            json!({"ingress": [{"from_port": 443, "cidr_blocks": ["10.0.0.0/8"]}]}),
            json!({"ingress": [{"from_port": 443, "cidr_blocks": ["10.0.0.0/8"]}, {"from_port": 22, "cidr_blocks": ["0.0.0.0/0"]}]}),
            vec!["ingress"],
        ),
        // Representation only: "30" vs 30, null vs "".
        (
            "aws_sns_topic",
            json!({"display_name": null, "delivery_policy": "30"}),
            json!({"display_name": "", "delivery_policy": 30}),
            vec![],
        ),
    ];
    for (rtype, before, after, want) in cases {
        let got: Vec<String> = attribute_diffs(&change(rtype, before, after))
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(got, want, "{rtype}");
    }
}

#[test]
fn sensitive_values_are_masked() {
    let mut c = change(
        "aws_db_instance",
        json!({"password": "hunter2hunter2", "note": "AKIAIOSFODNN7EXAMPLE"}),
        json!({"password": "s3cr3t-rotated!", "note": "AKIAI44QH8DHBEXAMPLE"}),
    );
    c.sensitive = vec!["password".into()];
    let text = serde_json::to_string(&attribute_diffs(&c)).unwrap();
    for secret in [
        "hunter2",
        "s3cr3t",
        "AKIAIOSFODNN7EXAMPLE",
        "AKIAI44QH8DHBEXAMPLE",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn plan_document_cases() {
    let doc = json!({
        "format_version": "1.2",
        "resource_drift": [
            {"address": "aws_sqs_queue.jobs", "mode": "managed", "type": "aws_sqs_queue",
             "provider_name": "registry.terraform.io/hashicorp/aws",
             "change": {"actions": ["update"], "before": {"id": "q", "delay_seconds": 0},
                        "after": {"id": "q", "delay_seconds": 5},
                        "before_sensitive": {"secret": true}, "after_sensitive": {}}},
            {"address": "aws_vpc.gone", "mode": "managed", "type": "aws_vpc",
             "change": {"actions": ["delete"], "before": {"id": "vpc-1"}, "after": null}},
            {"address": "data.aws_caller_identity.me", "mode": "data", "type": "aws_caller_identity",
             "change": {"actions": ["read"]}},
            {"bogus": true}
        ],
        "relevant_attributes": [
            {"resource": "aws_db_instance.db", "attribute": ["engine_version"]},
            {"resource": "aws_vpc.main", "attribute": ["tags", "Env"]},
            {"resource": 5}
        ],
        "prior_state": {"values": {"root_module": {
            "resources": [{"address": "aws_sqs_queue.jobs", "mode": "managed"},
                          {"address": "data.x.y", "mode": "data"}],
            "child_modules": [{"resources": [{"address": "module.net.aws_vpc.main", "mode": "managed"}]}]
        }}}
    });
    let p = parse_plan(doc.to_string().as_bytes()).unwrap();
    assert_eq!(p.drift.len(), 2);
    assert_eq!(p.drift[0].provider, "aws");
    assert_eq!(p.drift[0].sensitive, vec!["secret".to_string()]);
    assert!(p.drift[1].is_delete());
    assert_eq!(p.unreadable, 2);
    assert_eq!(
        p.relevant,
        vec![
            (
                "aws_db_instance.db".to_string(),
                "engine_version".to_string()
            ),
            ("aws_vpc.main".to_string(), "tags.Env".to_string())
        ]
    );
    assert_eq!(
        p.prior_addresses,
        vec!["aws_sqs_queue.jobs", "module.net.aws_vpc.main"]
    );

    // Computed attributes on the noise list are noise, others are drift.
    let db = ResourceChange {
        address: "aws_db_instance.db".into(),
        ..change("aws_db_instance", Value::Null, Value::Null)
    };
    assert!(is_noise(&p, &db, "latest_restorable_time"));
    assert!(!is_noise(&p, &db, "allocated_storage"));
    assert!(!is_noise(&p, &db, "engine_version"));
    assert!(!is_noise(&p, &p.drift[0], "delay_seconds"));
    // Named relevant by Terraform: kept even when on the noise list.
    let mut rel = p.clone();
    rel.relevant
        .push(("aws_db_instance.db".into(), "latest_restorable_time".into()));
    assert!(!is_noise(&rel, &db, "latest_restorable_time"));

    for bad in [
        &b"{}"[..],
        b"[]",
        b"{\"format_version\":\"1.0\",\"values\":{}}",
        b"nope",
    ] {
        assert!(parse_plan(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn covers_is_by_whole_segment() {
    assert!(covers("tags", "tags.Env"));
    assert!(covers("tags", "tags"));
    assert!(!covers("tag", "tags.Env"));
    assert!(overlaps("ingress", "ingress"));
    assert!(overlaps("tags.Env", "tags"));
}

/// What the `plan_json` fuzz target does, over its seeds (tests/reconcile/seeds).
#[test]
fn fuzz_seeds_go_through_every_reader() {
    use crate::reconcile::{Attribution, explain};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reconcile/seeds");
    let mut plans = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = parse_stream(&String::from_utf8_lossy(&data));
        if let Ok(doc) = parse_plan(&data) {
            plans += 1;
            for c in doc.drift.iter().chain(&doc.changes) {
                for d in attribute_diffs(c) {
                    let _ = is_noise(&doc, c, &d.path);
                }
            }
            let mut nobody = |_: &crate::drift::Drift| Attribution::default();
            let e = explain::explain(&doc, &[], &mut nobody);
            assert_eq!(e.len(), 2, "{e:?}");
        }
    }
    assert_eq!(plans, 1);
}
