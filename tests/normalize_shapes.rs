//! Every delivery shape tfdrift accepts becomes the same normalised event (FORMATS.md §1, §4, §5).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine as _;
use serde_json::json;
use tfdrift::event::{CloudEvent, Provider};
use tfdrift::normalize::{Normalized, Skip, normalize_str};

fn one(text: &str) -> CloudEvent {
    let mut out = Vec::new();
    normalize_str(text, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    match out.pop().unwrap() {
        Normalized::Event(e) => *e,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn skipped(text: &str) -> Skip {
    let mut out = Vec::new();
    normalize_str(text, &mut out);
    match out.as_slice() {
        [Normalized::Skipped(k)] => *k,
        other => panic!("expected a skip, got {other:?}"),
    }
}

fn record() -> serde_json::Value {
    json!({"eventVersion":"1.08","eventTime":"2024-05-01T14:11:38Z","eventSource":"ec2.amazonaws.com",
        "eventName":"AuthorizeSecurityGroupIngress","awsRegion":"us-east-1","eventID":"11111111-2222-3333-4444-555555555555",
        "userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","arn":"arn:aws:sts::123456789012:assumed-role/Admin/alice",
          "accountId":"123456789012","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::123456789012:role/Admin"},"attributes":{"mfaAuthenticated":"true"}}},
        "userAgent":"aws-cli/2.15.30","sourceIPAddress":"203.0.113.10","readOnly":false,
        "requestParameters":{"groupId":"sg-0123456789abcdef0"},"responseElements":null,"recipientAccountId":"123456789012"})
}

fn check_record(e: &CloudEvent) {
    assert_eq!(e.provider, Provider::Aws);
    assert_eq!(e.action, "AuthorizeSecurityGroupIngress");
    assert_eq!(e.service, "ec2");
    assert_eq!(e.id, "11111111-2222-3333-4444-555555555555");
    assert_eq!(e.request["groupId"], "sg-0123456789abcdef0");
    assert_eq!(e.region.as_deref(), Some("us-east-1"));
    assert_eq!(e.account.as_deref(), Some("123456789012"));
    assert_eq!(e.actor.session.as_deref(), Some("alice"));
    assert_eq!(e.actor.mfa, Some(true));
    assert_eq!(e.time.unwrap().to_rfc3339(), "2024-05-01T14:11:38+00:00");
}

#[test]
fn cloudtrail_record_file_eventbridge_lookupevents_sns() {
    let r = record();
    check_record(&one(&r.to_string()));
    check_record(&one(&json!({"Records": [r]}).to_string()));
    check_record(&one(
        &json!({"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","detail": r}).to_string(),
    ));
    check_record(&one(
        &json!({"Events":[{"EventId":"x","EventName":"AuthorizeSecurityGroupIngress","ReadOnly":"false",
            "EventTime":1_714_572_698.0,"CloudTrailEvent": r.to_string()}]})
        .to_string(),
    ));
    check_record(&one(
        &json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:123456789012:t",
            "Message": json!({"detail-type":"AWS API Call via CloudTrail","detail": r}).to_string()})
        .to_string(),
    ));
}

#[test]
fn envelopes_without_api_calls_are_skipped_by_kind() {
    assert_eq!(
        skipped(r#"{"awsAccountId":"1","digestStartTime":"2024-05-01T13:00:00Z","logFiles":[]}"#),
        Skip::Digest
    );
    assert_eq!(
        skipped(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"t","Bucket":"b"}"#),
        Skip::S3TestEvent
    );
    assert_eq!(
        skipped(
            r#"{"s3Bucket":"b","s3ObjectKey":["AWSLogs/1/CloudTrail/us-east-1/2024/05/01/x.json.gz"]}"#
        ),
        Skip::CloudTrailNotification
    );
    assert_eq!(
        skipped(
            r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{}}]}"#
        ),
        Skip::S3Notification
    );
    assert_eq!(
        skipped(r#"{"detail-type":"AWS Insight via CloudTrail","detail":{"insightDetails":{}}}"#),
        Skip::EventBridgeOther
    );
    assert_eq!(
        skipped(
            r#"{"output":"x","output_fields":{"proc.name":"bash"},"priority":"Notice","rule":"r","source":"syscall","time":"2024-05-01T14:11:38.000000000Z"}"#
        ),
        Skip::FalcoOtherSource
    );
}

#[test]
fn falco_cloudtrail_alert_json_and_grpc_stringified() {
    // FORMATS.md §1.7, as http_output posts it.
    let json_alert = json!({"hostname":"falco-0","output":"14:11:38.000000000: Notice SG ingress changed (user=alice error=<NA>)",
        "output_fields":{"ct.error":null,"ct.id":"11111111-2222-3333-4444-555555555555","ct.name":"AuthorizeSecurityGroupIngress",
          "ct.region":"us-east-1","ct.src":"ec2.amazonaws.com","ct.user":"alice","ct.user.identitytype":"IAMUser",
          "ct.request":"{\"groupId\":\"sg-0123456789abcdef0\"}","evt.time":1_714_572_698_000_000_000_u64},
        "priority":"Notice","rule":"SG ingress changed","source":"aws_cloudtrail","tags":["aws"],"time":"2024-05-01T14:11:38.000000000Z"});
    let e = one(&json_alert.to_string());
    assert_eq!(e.action, "AuthorizeSecurityGroupIngress");
    assert_eq!(e.request["groupId"], "sg-0123456789abcdef0");
    assert_eq!(e.error_code, None);
    assert_eq!(e.actor.session.as_deref(), Some("alice"));
    assert_eq!(e.time.unwrap().to_rfc3339(), "2024-05-01T14:11:38+00:00");
    // The legacy gRPC path stringifies every value, nulls included.
    let grpc = json!({"output_fields":{"ct.error":"null","ct.id":"i2","ct.name":"AuthorizeSecurityGroupIngress",
        "ct.src":"ec2.amazonaws.com","ct.request":"{\"groupId\":\"sg-1\"}","evt.time":"1714572698000000000"},
        "source":"aws_cloudtrail","rule":"r","priority":"Notice"});
    let e = one(&grpc.to_string());
    assert_eq!(e.error_code, None);
    assert_eq!(e.request["groupId"], "sg-1");
    assert!(e.time.is_some());
}

#[test]
fn falco_gcpaudit_alert_with_policy_delta() {
    let alert = json!({"hostname":"falco-0","output":"…","output_fields":{"gcp.user":"alice@example.com",
        "gcp.methodName":"storage.setIamPermissions","gcp.serviceName":"storage.googleapis.com",
        "gcp.resourceName":"projects/_/buckets/my-bucket","gcp.storage.bucket":"my-bucket",
        "gcp.policyDelta":"[{\"action\":\"ADD\",\"member\":\"allUsers\",\"role\":\"roles/storage.objectViewer\"}]",
        "gcp.request":"","gcp.time":"2024-05-01T14:11:38.123456789Z","evt.time":1_714_572_700_512_000_000_u64},
        "priority":"Critical","rule":"GCP bucket public","source":"gcp_auditlog","tags":["gcp"],"time":"2024-05-01T14:11:40.512000000Z"});
    let e = one(&alert.to_string());
    assert_eq!(e.provider, Provider::Gcp);
    assert_eq!(e.action, "storage.setIamPermissions");
    assert_eq!(
        e.resource_name.as_deref(),
        Some("projects/_/buckets/my-bucket")
    );
    assert_eq!(e.actor.email.as_deref(), Some("alice@example.com"));
    assert!(e.request.is_null(), "empty gcp.request is absent");
    assert_eq!(
        e.extra["serviceData"]["policyDelta"]["bindingDeltas"][0]["member"],
        "allUsers"
    );
    assert_eq!(
        e.time.unwrap().to_rfc3339(),
        "2024-05-01T14:11:38.123456789+00:00"
    );
}

#[test]
fn gcp_log_entry_single_array_and_pubsub_push() {
    let entry = json!({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","status":{},
        "authenticationInfo":{"principalEmail":"sa@p.iam.gserviceaccount.com"},"serviceName":"compute.googleapis.com",
        "methodName":"beta.compute.firewalls.patch","resourceName":"projects/p/global/firewalls/fw",
        "request":{"sourceRanges":["0.0.0.0/0"]}},"insertId":"abc","timestamp":"2024-05-01T14:11:38Z",
        "resource":{"type":"gce_firewall_rule","labels":{"project_id":"p"}},
        "logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity"});
    let check = |e: &CloudEvent| {
        assert_eq!(e.provider, Provider::Gcp);
        assert_eq!(e.action, "compute.firewalls.patch");
        assert_eq!(e.raw_action, "beta.compute.firewalls.patch");
        assert_eq!(e.id, "abc");
        assert_eq!(e.account.as_deref(), Some("p"));
        assert_eq!(e.actor.identity_type.as_deref(), Some("serviceAccount"));
        assert_eq!(e.category.as_deref(), Some("Management"));
    };
    check(&one(&entry.to_string()));
    check(&one(&json!([entry]).to_string()));
    let data = base64::engine::general_purpose::STANDARD.encode(entry.to_string());
    check(&one(
        &json!({"message":{"attributes":{},"data":data,"messageId":"1","publishTime":"t"},"subscription":"projects/p/subscriptions/s"})
            .to_string(),
    ));
    check(&one(
        &json!({"receivedMessages":[{"ackId":"a","message":{"data":data}}]}).to_string(),
    ));
    // Failed call: non-zero status.
    let mut failed = entry.clone();
    failed["protoPayload"]["status"] = json!({"code": 7, "message": "PERMISSION_DENIED"});
    assert_eq!(
        one(&failed.to_string()).error_code.as_deref(),
        Some("7: PERMISSION_DENIED")
    );
}

#[test]
fn nesting_is_bounded() {
    let mut doc = record().to_string();
    for _ in 0..10 {
        doc = json!({"Type":"Notification","Message": doc}).to_string();
    }
    let mut out = Vec::new();
    normalize_str(&doc, &mut out);
    assert!(matches!(out.as_slice(), [Normalized::Unparseable(r)] if r.contains("nested")));
}

/// Issue 13 point 8: a field of an unexpected type is named in `extra.unreadable` and the rest
/// of the record is kept: a numeric account id or request id is read as text, a non-object
/// `userIdentity` loses only the caller, an out-of-range number only itself.
#[test]
fn fields_of_unexpected_types_are_named_not_fatal() {
    let mut r = record();
    r["recipientAccountId"] = json!(123_456_789_012_u64);
    r["requestID"] = json!(7);
    r["userIdentity"] = json!("root");
    r["awsRegion"] = json!(["us-east-1"]);
    let text = r.to_string().replace(
        r#""groupId":"sg-0123456789abcdef0""#,
        r#""groupId":"sg-0123456789abcdef0","x":-1e400"#,
    );
    let e = one(&text);
    assert_eq!(e.account.as_deref(), Some("123456789012"));
    assert_eq!(e.request["groupId"], "sg-0123456789abcdef0");
    assert_eq!(e.region, None);
    let notes: Vec<&str> = tfdrift::normalize::lenient::unreadable(&e).collect();
    assert_eq!(
        notes,
        [
            "awsRegion: expected a string, found an array",
            "userIdentity: invalid type: string \"root\", expected struct UserIdentity",
            "requestParameters.x: number out of range"
        ]
    );
}

/// Issue 13 point 13: event ids are remembered for dedupe, so a hostile 900 KB id is kept as
/// its hash (the same id gives the same hash: dedupe still works).
#[test]
fn oversized_event_ids_are_hashed() {
    let mut r = record();
    r["eventID"] = json!("x".repeat(900_000));
    let a = one(&r.to_string());
    let b = one(&r.to_string());
    assert!(
        a.id.starts_with("sha256:") && a.id.len() < 64,
        "{}",
        &a.id[..80.min(a.id.len())]
    );
    assert_eq!(a.id, b.id);
    let short = one(&record().to_string());
    assert_eq!(short.id, "11111111-2222-3333-4444-555555555555");
}
