//! Golden tests: real corpus states + recorded events in, exact alert JSON out.
//!
//! Each `tests/golden/<case>/` holds `case.json` (corpus state files), `events.jsonl`, and the
//! expected `alerts.jsonl` and `stats.json`. `TFDRIFT_BLESS=1 cargo test --test suite golden::` rewrites
//! the expectations; review the diff before committing it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::path::Path;

use serde_json::{Value, json};
use tfdrift::pipeline::EngineOptions;

/// Replays one case; `None` when a state it needs is only in the extended corpus tier.
fn run_case(dir: &Path) -> Option<(String, Value)> {
    let case: Value =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
    let mut states: Vec<(String, Vec<u8>)> = Vec::new();
    for s in case["states"].as_array().unwrap() {
        let rel = s.as_str().unwrap();
        let path = common::corpus_file(rel)?;
        states.push((rel.to_string(), std::fs::read(path).unwrap()));
    }
    let refs: Vec<(&str, &[u8])> = states
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let opts = EngineOptions {
        terraform_principals: case["terraform_principals"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
        ..EngineOptions::default()
    };
    let mut engine = common::engine(&refs, &opts);
    let events = std::fs::read(dir.join("events.jsonl")).unwrap();
    let (alerts, stats) = common::replay(&mut engine, "events.jsonl", &events);
    let mut out = String::new();
    for a in &alerts {
        out.push_str(&serde_json::to_string(a).unwrap());
        out.push('\n');
    }
    let stats = json!({
        "records_read": stats.records_read,
        "alerts_by_kind": stats.alerts_by_kind,
        "in_sync": stats.in_sync,
        "failed_calls": stats.failed_calls,
        "read_only": stats.read_only,
        "data_plane": stats.data_plane,
        "terraform_originated": stats.terraform_originated,
        "duplicates": stats.duplicates,
        "operational": stats.operational,
        "operation_continuations": stats.operation_continuations,
        "unsupported_by_name": stats.unsupported_by_name,
    });
    Some((out, stats))
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("TFDRIFT_BLESS").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 4, "golden cases missing");
    let mut ran = 0;
    for dir in dirs {
        let Some((alerts, stats)) = run_case(&dir) else {
            continue;
        };
        ran += 1;
        let stats_text = serde_json::to_string_pretty(&stats).unwrap() + "\n";
        if bless {
            std::fs::write(dir.join("alerts.jsonl"), &alerts).unwrap();
            std::fs::write(dir.join("stats.json"), &stats_text).unwrap();
            continue;
        }
        let want_alerts = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap_or_else(|_| {
            panic!(
                "{}: no alerts.jsonl (run with TFDRIFT_BLESS=1)",
                dir.display()
            )
        });
        let want_stats = std::fs::read_to_string(dir.join("stats.json")).unwrap();
        // Compare as JSON values line by line, for readable failures.
        let got: Vec<Value> = alerts
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let want: Vec<Value> = want_alerts
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{}: number of alerts\n{alerts}",
            dir.display()
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{}", dir.display());
        }
        assert_eq!(stats_text, want_stats, "{}: stats", dir.display());
    }
    assert!(ran >= 1, "no golden case ran");
}

/// A state with one security group whose rules carry descriptions, and one standalone rule.
fn sg_state() -> Vec<u8> {
    let rule = |port: u16, cidrs: &[&str], desc: &str| {
        json!({"cidr_blocks": cidrs, "description": desc, "from_port": port, "to_port": port,
               "ipv6_cidr_blocks": [], "prefix_list_ids": [], "protocol": "tcp",
               "security_groups": [], "self": false})
    };
    serde_json::to_vec(&json!({
        "version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": "sg-rules",
        "resources": [
            {"mode": "managed", "type": "aws_security_group", "name": "web",
             "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
             "instances": [{"schema_version": 1, "attributes": {
                 "id": "sg-0123456789abcdef0", "name": "web",
                 "ingress": [rule(22, &["10.0.0.0/8", "192.0.2.0/24"], "ssh from office"),
                             rule(443, &["0.0.0.0/0"], "https")],
                 "egress": []}}]},
            {"mode": "managed", "type": "aws_vpc_security_group_ingress_rule", "name": "db",
             "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
             "instances": [{"schema_version": 0, "attributes": {
                 "id": "sgr-0aaaabbbbccccdddd", "security_group_id": "sg-0fedcba9876543210",
                 "ip_protocol": "tcp", "from_port": 5432, "to_port": 5432,
                 "cidr_ipv4": "10.1.0.0/16"}}]}
        ]
    }))
    .unwrap()
}

fn revoke(id: &str, request: &Value, response: &Value) -> String {
    json!({"eventVersion": "1.09", "eventTime": "2026-11-27T11:00:00Z",
        "eventSource": "ec2.amazonaws.com", "eventName": "RevokeSecurityGroupIngress",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/ec2.revoke-security-group-ingress",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEBOB00001",
            "arn": "arn:aws:iam::111122223333:user/bob", "accountId": "111122223333", "userName": "bob"},
        "requestParameters": request, "responseElements": response,
        "eventID": id, "readOnly": false, "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333", "eventCategory": "Management"})
    .to_string()
}

/// A revoke is matched on protocol, ports and source: the CLI's `--cidr` form (no description)
/// removes a described inline rule, one CIDR of a two-CIDR block included; a console revoke by
/// rule id resolves a standalone rule, and an inline one through the rules the response lists.
#[test]
fn security_group_revokes_match_rules_without_descriptions() {
    let state = sg_state();
    let mut engine = common::engine(&[("sg.tfstate", &state)], &EngineOptions::default());
    let perm = |port: u16, cidr: &str| {
        json!({"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port, "groups": {},
            "ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}, "prefixListIds": {}}]})
    };
    let events = [
        // --cidr 0.0.0.0/0 --port 443: the whole described rule goes.
        revoke(
            "e1",
            &json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": perm(443, "0.0.0.0/0")}),
            &json!({"_return": true}),
        ),
        // One CIDR of the port-22 block.
        revoke(
            "e2",
            &json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": perm(22, "192.0.2.0/24")}),
            &json!({"_return": true}),
        ),
        // A rule the group does not have: in sync.
        revoke(
            "e3",
            &json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": perm(8080, "0.0.0.0/0")}),
            &json!({"_return": true}),
        ),
        // Console: a standalone rule by id.
        revoke(
            "e4",
            &json!({"groupId": "sg-0fedcba9876543210",
            "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-0aaaabbbbccccdddd"}]}}),
            &json!({"_return": true}),
        ),
        // Console: an inline rule by id, described by the response.
        revoke(
            "e5",
            &json!({"groupId": "sg-0123456789abcdef0",
            "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-0inline0000000001"}]}}),
            &json!({"_return": true, "revokedSecurityGroupRuleSet": {"items": [{
                "securityGroupRuleId": "sgr-0inline0000000001", "groupId": "sg-0123456789abcdef0",
                "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "cidrIpv4": "10.0.0.0/8", "description": "ssh from office"}]}}),
        ),
    ];
    let text = events.join("\n");
    let (alerts, stats) = common::replay(&mut engine, "revokes.jsonl", text.as_bytes());
    let by_event = |id: &str| -> Vec<&tfdrift::alert::Alert> {
        alerts.iter().filter(|a| a.event.id == id).collect()
    };
    let ingress_after = |id: &str| -> Value {
        let a = by_event(id);
        assert_eq!(a.len(), 1, "{id}: one alert expected, got {alerts:#?}");
        assert_eq!(a[0].resource.id, "sg-0123456789abcdef0");
        a[0].diffs[0].observed.clone()
    };
    let e1 = ingress_after("e1");
    assert_eq!(e1.as_array().unwrap().len(), 1, "{e1}");
    assert_eq!(e1[0]["from_port"], 22);
    let e2 = ingress_after("e2");
    let e2_22 = e2
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["from_port"] == 22)
        .unwrap();
    assert_eq!(e2_22["cidr_blocks"], json!(["10.0.0.0/8"]));
    assert!(by_event("e3").is_empty());
    let e4 = by_event("e4");
    assert_eq!(e4.len(), 1);
    assert_eq!(e4[0].resource.rtype, "aws_vpc_security_group_ingress_rule");
    assert_eq!(
        e4[0].resource.address.as_deref(),
        Some("aws_vpc_security_group_ingress_rule.db")
    );
    let e5 = ingress_after("e5");
    let e5_22 = e5
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["from_port"] == 22)
        .unwrap();
    assert_eq!(e5_22["cidr_blocks"], json!(["192.0.2.0/24"]));
    assert_eq!(stats.in_sync, 1);
}
