//! Enrichment over real corpus data: identities of every type found in the CloudTrail and GCP
//! audit corpora, blast radius on a real state, and history that survives a store reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::Arc;

use chrono::Duration;
use tfdrift::alert::{Identity, Via};
use tfdrift::enrich::DependencyGraph;
use tfdrift::enrich::identity::identity;
use tfdrift::event::CloudEvent;
use tfdrift::input::{Document, read_input, split_documents};
use tfdrift::normalize::{Normalized, normalize_document};
use tfdrift::pipeline::EngineOptions;
use tfdrift::state::{StateIndex, parse_state};
use tfdrift::store::{SqliteStore, Store};

/// The event with `id` (and `name`, when ids repeat in a file) from a corpus file.
fn corpus_event(rel: &str, id: &str, name: Option<&str>) -> CloudEvent {
    let bytes = read_input(&common::corpus().join(rel)).unwrap();
    let mut found = None;
    split_documents(&bytes, |doc| {
        if let Document::Json(raw, _) = doc {
            let mut units = Vec::new();
            normalize_document(raw, &mut units);
            for u in units {
                if let Normalized::Event(ev) = u
                    && ev.id == id
                    && name.is_none_or(|n| ev.raw_action == n)
                    && found.is_none()
                {
                    found = Some(*ev);
                }
            }
        }
    });
    found.unwrap_or_else(|| panic!("no event {id} in {rel}"))
}

fn who(rel: &str, id: &str, name: Option<&str>) -> Identity {
    identity(&corpus_event(rel, id, name))
}

const PANTHER_CT: &str = "cloudtrail/panther-labs__panther-analysis/records.jsonl";
const TRAILSCRAPER: &str = "cloudtrail/flosell__trailscraper/tests/cloudtrail/data/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz";
const PLASO_GCP: &str = "gcpaudit/log2timeline__plaso/test_data/jsonl/gcp_logging.jsonl";

#[test]
fn aws_iam_user_via_terraform() {
    let id = who(
        "cloudtrail/invictus-ir__aws_dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_WMiHxZgr5Hdd6UDc.json",
        "f0cce5bc-5f9e-4ee1-bb48-e20fecb32403",
        None,
    );
    assert_eq!(id.kind, "iam_user");
    assert_eq!(id.human.as_deref(), Some("bert-jan"));
    assert_eq!(id.account.as_deref(), Some("123837392027"));
    assert_eq!(id.via, Via::Terraform);
    assert_eq!(id.tool.as_deref(), Some("Terraform/1.1.2"));
    assert_eq!(id.source_kind, "private");
}

#[test]
fn aws_assumed_role_by_an_instance_is_not_a_person() {
    let id = who(
        "cloudtrail/invictus-ir__aws_dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_nBsuPO1qSTEVerMD.json",
        "2d9189b5-cb66-4363-8ecf-cfe1ecb40796",
        None,
    );
    assert_eq!(id.kind, "assumed_role");
    assert_eq!(
        id.role.as_deref(),
        Some("stratus-red-team-ec2-enumerate-role")
    );
    assert_eq!(id.human, None, "session name is an instance id");
    assert!(
        id.display.contains("stratus-red-team-ec2-enumerate-role"),
        "{}",
        id.display
    );
}

#[test]
fn aws_sso_user_is_the_session_name() {
    let id = who(PANTHER_CT, "86581591-0f39-4eae-9a8d-b2224a3c91fa", None);
    assert_eq!(id.kind, "sso_user");
    assert_eq!(id.human.as_deref(), Some("fake.user"));
    assert_eq!(
        id.role.as_deref(),
        Some("DevAdmin"),
        "permission set, hash dropped"
    );
    assert_eq!(id.mfa, Some(false));
    assert!(
        id.display.starts_with("fake.user (SSO DevAdmin)"),
        "{}",
        id.display
    );
}

#[test]
fn aws_federated_user() {
    // Several records in the file share id "1": take the federated one.
    let ev = {
        let bytes = read_input(&common::corpus().join(PANTHER_CT)).unwrap();
        let mut fed = None;
        split_documents(&bytes, |doc| {
            if let Document::Json(raw, _) = doc {
                let mut units = Vec::new();
                normalize_document(raw, &mut units);
                for u in units {
                    if let Normalized::Event(ev) = u
                        && ev.actor.identity_type.as_deref() == Some("FederatedUser")
                        && fed.is_none()
                    {
                        fed = Some(*ev);
                    }
                }
            }
        });
        fed.unwrap()
    };
    let id = identity(&ev);
    assert_eq!(id.kind, "federated_user");
    assert_eq!(id.human.as_deref(), Some("federated-user"));
    assert_eq!(id.via, Via::Cli);
    assert_eq!(id.tool.as_deref(), Some("aws-cli/2.13.5"));
    assert_eq!(id.sdk_language.as_deref(), Some("python"));
    assert_eq!(id.source_kind, "public");
}

#[test]
fn aws_root() {
    let id = who(
        "cloudtrail/flosell__trailscraper/tests/smoke/events-for-smoke-test.json",
        "4d293154-a15b-4c33-9e0a-ff5eeEXAMPLE",
        None,
    );
    assert_eq!(id.kind, "root");
    assert_eq!(id.human.as_deref(), Some("root of account 123456789012"));
    assert_eq!(id.mfa, Some(false));
}

#[test]
fn aws_service_and_invoked_by() {
    let id = who(TRAILSCRAPER, "b25ff7e3-f1cf-4b7f-883d-b09168c454d5", None);
    assert_eq!(id.kind, "aws_service");
    assert_eq!(id.human, None);
    assert_eq!(id.invoked_by.as_deref(), Some("config.amazonaws.com"));
    assert_eq!(id.source_kind, "aws_service");
    assert_eq!(id.via, Via::Service);
    assert!(
        id.display.starts_with("config.amazonaws.com"),
        "{}",
        id.display
    );

    let id = who(TRAILSCRAPER, "a0ed971f-389f-406a-9fcf-887c5ca6903a", None);
    assert_eq!(id.kind, "assumed_role");
    assert_eq!(id.role.as_deref(), Some("someRole"));
    assert_eq!(id.human, None, "a service session on someone's behalf");
    assert!(id.invoked_by.is_some());
}

#[test]
fn aws_account() {
    let id = who(PANTHER_CT, "044e210e-6c5e-3f3e-8f04-2311a826f287", None);
    assert_eq!(id.kind, "aws_account");
    assert_eq!(id.human.as_deref(), Some("lambda-name"));
    assert_eq!(id.account.as_deref(), Some("111122223333"));
}

#[test]
fn gcp_user_service_account_and_delegation() {
    let id = who(PLASO_GCP, "iv9wx9d16l2", None);
    assert_eq!(id.kind, "gcp_user");
    assert!(id.human.as_deref().is_some_and(|h| h.contains('@')));

    let id = who(
        "gcpaudit/spotify__gordon-gcp/src/gordon_gcp/schema/examples/audit-log.first-operation.json",
        "123456789101112",
        None,
    );
    assert_eq!(id.kind, "gcp_service_account");
    assert!(
        id.role
            .as_deref()
            .unwrap()
            .ends_with(".gserviceaccount.com")
    );

    // A service account acting through Google's compute system account: no human in the chain.
    let id = who(PLASO_GCP, "1awjxggeaxqgz", None);
    assert_eq!(id.kind, "gcp_service_account");
    assert_eq!(
        id.delegation,
        [
            "service-1234567890@compute-system.iam.gserviceaccount.com",
            "dvwa-service-account@ketchup.iam.gserviceaccount.com"
        ]
    );
    assert_eq!(id.human, None);
    assert_eq!(id.source_kind, "public");

    // The whole chain is kept, in order, with the caller last.
    let id = who(PLASO_GCP, "-duywnve29mpi", None);
    assert_eq!(
        id.delegation,
        [
            "service-account-one@fake-project.com",
            "service-account-two@fake-project.com",
            "fake-account@fake-project.com"
        ]
    );
    assert_eq!(id.tool.as_deref(), Some("gcloud.compute.instances.insert"));
    assert_eq!(id.via, Via::Cli);
}

/// A 130-resource real state (extended tier: its repository declares no licence).
fn isagues() -> Option<StateIndex> {
    let rel = "tfstate/isagues__terraform-demo/terraform.tfstate";
    let bytes = std::fs::read(common::extended(rel)?).unwrap();
    Some(StateIndex::new(parse_state(rel, &bytes).unwrap()))
}

#[test]
fn blast_radius_on_a_real_state() {
    let Some(state) = isagues() else { return };
    let g = DependencyGraph::new(&state);
    let br = g.blast_radius("aws_security_group.web");
    assert_eq!(
        br.dependents,
        [
            "aws_instance.web_server_1",
            "aws_instance.web_server_2",
            "aws_lb_target_group_attachment.web_server_1_lb",
            "aws_lb_target_group_attachment.web_server_2_lb",
            "aws_security_group_rule.web_in_http",
            "aws_security_group_rule.web_in_https",
            "aws_security_group_rule.web_in_icmp",
            "aws_security_group_rule.web_in_ssh",
            "aws_security_group_rule.web_out",
        ]
    );
    assert_eq!((br.count, br.max_depth), (9, 1));

    // The NAT gateway's EIP: the gateway and the private route through it (declared
    // dependencies), then — through an attribute reference only, the inline route's
    // `nat_gateway_id` — the private route table and its subnet association.
    let br = g.blast_radius("aws_eip.natgw_1_eip");
    assert_eq!(
        br.dependents,
        [
            "aws_nat_gateway.natgw_1",
            "aws_route.private_1_rt_natgw",
            "aws_route_table.private_1_rt",
            "aws_route_table_association.private_1_rt_assoc"
        ]
    );
    assert_eq!(br.max_depth, 3);

    // Everything network-shaped hangs off the VPC, some of it two hops away.
    let br = g.blast_radius("aws_vpc.vpc");
    assert!(br.count > 40, "{}", br.count);
    assert!(br.dependents.iter().any(|d| d == "aws_subnet.private_1"));
    assert!(br.dependents.len() <= 50);
    // A leaf.
    assert_eq!(g.blast_radius("aws_security_group_rule.web_out").count, 0);
}

#[test]
fn history_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tfdrift.db");
    let state = tfdrift::assets::file("demo/terraform.tfstate").unwrap();
    let events = tfdrift::assets::file("demo/events.jsonl").unwrap();
    // First run: the demo events recorded.
    let first = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let mut engine =
            common::engine(&[("demo", state)], &EngineOptions::default()).with_store(store);
        common::replay(&mut engine, "events.jsonl", events).0
    };
    assert!(first.iter().all(|a| {
        a.enrichment.history.recent.is_empty()
            || a.enrichment
                .history
                .recent
                .iter()
                .all(|h| h.alert_id != a.id)
    }));
    // After a restart, the same changes an hour later (new event ids) see the first run's.
    let later: Vec<u8> = String::from_utf8(events.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let id = v["eventID"].as_str().unwrap().to_string();
            v["eventID"] = format!("{id}-again").into();
            let t = chrono::DateTime::parse_from_rfc3339(v["eventTime"].as_str().unwrap()).unwrap()
                + Duration::hours(1);
            v["eventTime"] = t.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
            v.to_string() + "\n"
        })
        .collect::<String>()
        .into_bytes();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let mut engine =
        common::engine(&[("demo", state)], &EngineOptions::default()).with_store(store);
    let (second, _) = common::replay(&mut engine, "later.jsonl", &later);
    assert_eq!(second.len(), first.len());
    for (a, b) in first.iter().zip(&second) {
        let h = &b.enrichment.history;
        assert!(
            h.recent.iter().any(|r| r.alert_id == a.id),
            "{}: earlier alert {} in history",
            b.resource.id,
            a.id
        );
        assert!(h.days[6] >= 1, "{:?}", h.days);
        assert_eq!(h.days.iter().sum::<u32>() as usize, h.recent.len());
        if a.actor.arn.is_some() {
            assert!(!h.actor_recent.is_empty(), "actor's other changes");
        }
    }
}
