//! Live-source configuration keys and the SQS body sniffing, without servers.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(clippy::match_wildcard_for_single_variants)]

use tfdrift::collect::SourceSpec;
use tfdrift::collect::sqs::{Work, decode_key, skip_object, sniff};
use tfdrift::config::parse_config;

#[test]
fn profile_with_sources_and_remote_state_parses() {
    let yaml = r"
profiles:
  live:
    state: [./local.tfstate, s3://b/app/terraform.tfstate]
    remote_state: { region: eu-west-1, refresh_seconds: 30 }
    sources:
      - {type: sqs, queue_url: 'http://127.0.0.1:5000/123/q', region: eu-west-1, endpoint_url: 'http://127.0.0.1:5000'}
      - {type: falco_http, listen: '127.0.0.1:8765', token_env: FALCO_TOKEN}
";
    let cfg = parse_config("t.yaml", yaml).unwrap();
    let p = &cfg.profiles["live"];
    assert_eq!(p.sources.len(), 2);
    match &p.sources[0] {
        SourceSpec::Sqs(s) => {
            assert_eq!(s.region, "eu-west-1");
            assert_eq!(s.wait_time_seconds, 20);
            assert_eq!(s.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        }
        other => panic!("{other:?}"),
    }
    match &p.sources[1] {
        SourceSpec::FalcoHttp(f) => {
            assert_eq!(f.token_env.as_deref(), Some("FALCO_TOKEN"));
            assert_eq!(f.max_body_bytes, 1024 * 1024);
        }
        other => panic!("{other:?}"),
    }
    let r = p.remote_state().unwrap();
    assert_eq!(r.local, vec!["./local.tfstate"]);
    assert_eq!(r.remote, vec!["s3://b/app/terraform.tfstate"]);
    assert_eq!(r.region, "eu-west-1");
    assert_eq!(r.interval.as_secs(), 30);

    let bad = "profiles:\n  x:\n    sources:\n      - {type: kafka, topic: t}\n";
    assert!(parse_config("t.yaml", bad).is_err());
    let typo = "profiles:\n  x:\n    sources:\n      - {type: falco_http, lisen: ':1'}\n";
    assert!(parse_config("t.yaml", typo).is_err());
}

#[test]
fn sqs_bodies_are_sniffed_in_order() {
    let direct = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"my+logs/AWSLogs/1/CloudTrail/us-east-1/x%3Ay.json.gz"}}}]}"#;
    let objects = Work::Objects(vec![(
        "b".into(),
        "my logs/AWSLogs/1/CloudTrail/us-east-1/x:y.json.gz".into(),
    )]);
    assert_eq!(sniff(direct), objects);
    let wrapped = serde_json::json!({"Type":"Notification","Message":direct}).to_string();
    assert_eq!(sniff(&wrapped), objects);
    let ct = r#"{"s3Bucket":"b","s3ObjectKey":["k1","k2"]}"#;
    assert_eq!(
        sniff(ct),
        Work::Objects(vec![("b".into(), "k1".into()), ("b".into(), "k2".into())])
    );
    assert_eq!(
        sniff(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
        Work::Drop("s3_test_event")
    );
    let eb = r#"{"detail-type":"AWS API Call via CloudTrail","detail":{}}"#;
    assert_eq!(sniff(eb), Work::Inline(eb.into()));
    assert_eq!(decode_key("a+b%2Bc"), "a b+c");
    assert_eq!(
        skip_object("AWSLogs/1/CloudTrail-Digest/r/x.json.gz"),
        Some("digest")
    );
    assert_eq!(skip_object("AWSLogs/1/CloudTrail/r/x.json.gz"), None);
    assert_eq!(
        skip_object("AWSLogs/1/elb/x.log"),
        Some("not_cloudtrail_object")
    );
}
