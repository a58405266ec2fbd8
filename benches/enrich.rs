//! Enrichment per alert: a 10,000-resource state (VPC, subnets, security groups, instances with
//! declared dependencies and id references) and a store holding a million history rows.
//!
//! Baseline in the same run: serialising the enriched alert to its JSON line (what every
//! consumer pays anyway), so the figure can be read as a ratio independent of machine noise.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tfdrift::alert::{ActorRef, Alert, AlertKind, EventRef, ResourceRef, SCHEMA, Severity};
use tfdrift::catalog::ChangeKind;
use tfdrift::enrich::{DriftContext, EnrichSettings, Enricher};
use tfdrift::event::{CloudEvent, Provider};
use tfdrift::state::{StateIndex, parse_state};
use tfdrift::store::{HistoryEntry, SqliteStore};

const SUBNETS: usize = 100;
const GROUPS: usize = 400;
const RESOURCES: usize = 10_000;
const HISTORY_ROWS: usize = 1_000_000;
const ACTORS: usize = 500;

fn state_json() -> String {
    let mut s = String::from(r#"{"version":4,"resources":["#);
    s.push_str(r#"{"mode":"managed","type":"aws_vpc","name":"main","instances":[{"attributes":{"id":"vpc-0000000001","tags":{"Owner":"net-team"}}}]}"#);
    let _ = write!(
        s,
        r#",{{"mode":"managed","type":"aws_subnet","name":"s","instances":["#
    );
    for i in 0..SUBNETS {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            s,
            r#"{sep}{{"index_key":{i},"attributes":{{"id":"subnet-{i:010}","vpc_id":"vpc-0000000001"}},"dependencies":["aws_vpc.main"]}}"#
        );
    }
    s.push_str("]}");
    let _ = write!(
        s,
        r#",{{"mode":"managed","type":"aws_security_group","name":"g","instances":["#
    );
    for i in 0..GROUPS {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            s,
            r#"{sep}{{"index_key":{i},"attributes":{{"id":"sg-{i:010}","vpc_id":"vpc-0000000001","tags":{{"Team":"t{i}","Environment":"prod"}}}},"dependencies":["aws_vpc.main"]}}"#
        );
    }
    s.push_str("]}");
    let _ = write!(
        s,
        r#",{{"mode":"managed","type":"aws_instance","name":"vm","instances":["#
    );
    for i in 0..(RESOURCES - 1 - SUBNETS - GROUPS) {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            s,
            r#"{sep}{{"index_key":{i},"attributes":{{"id":"i-{i:010}","subnet_id":"subnet-{:010}","vpc_security_group_ids":["sg-{:010}"],"tags":{{"Name":"vm{i}"}}}},"dependencies":["aws_subnet.s"]}}"#,
            i % SUBNETS,
            i % GROUPS
        );
    }
    s.push_str("]}]}");
    s
}

fn alert(now: chrono::DateTime<Utc>) -> Alert {
    Alert {
        schema: SCHEMA.into(),
        id: "tfd-bench".into(),
        time: now,
        kind: AlertKind::AttributeDrift,
        severity: Severity::High,
        provider: "aws".into(),
        resource: ResourceRef {
            rtype: "aws_security_group".into(),
            id: "sg-0000000007".into(),
            address: Some("aws_security_group.g[7]".into()),
            managed: true,
        },
        diffs: Vec::new(),
        event: EventRef {
            id: "ev-bench".into(),
            name: "AuthorizeSecurityGroupIngress".into(),
            service: "ec2".into(),
            time: Some(now),
            time_source: None,
            region: None,
            account: None,
        },
        actor: ActorRef {
            arn: Some(
                "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/user7@example.com".into(),
            ),
            ..ActorRef::default()
        },
        rules: Vec::new(),
        remediation: Vec::new(),
        runbook: None,
        enrichment: tfdrift::alert::Enrichment::default(),
        drift_id: None,
        drift_ids: Vec::new(),
        attribution: None,
    }
}

fn bench(c: &mut Criterion) {
    let resources = parse_state("bench", state_json().as_bytes()).unwrap();
    assert_eq!(resources.len(), RESOURCES);
    let index = StateIndex::new(resources);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    // A million rows over 30 days, spread over every resource and 500 actors.
    let mut batch = Vec::with_capacity(100_000);
    for i in 0..HISTORY_ROWS {
        let r = i % RESOURCES;
        let key = if r < GROUPS {
            format!("aws_security_group:sg-{r:010}")
        } else {
            format!("aws_instance:i-{r:010}")
        };
        batch.push(HistoryEntry {
            time: now - Duration::minutes(i64::try_from(i % (30 * 24 * 60)).unwrap()),
            resource_key: key,
            address: None,
            actor: Some(format!(
                "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/user{}@example.com",
                i % ACTORS
            )),
            kind: "attribute_drift".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_id: format!("ev-{i}"),
            alert_id: format!("tfd-{i}"),
        });
        if batch.len() == 100_000 {
            store.insert_history(&batch).unwrap();
            batch.clear();
        }
    }
    let store: std::sync::Arc<dyn tfdrift::store::Store> = std::sync::Arc::new(store);
    let mut enricher = Enricher::new(&index, EnrichSettings::default());
    enricher.set_store(Some(store));
    let mut ev = CloudEvent::new(Provider::Aws);
    ev.actor.identity_type = Some("AssumedRole".into());
    ev.actor.arn.clone_from(&alert(now).actor.arn);
    ev.actor.session = Some("user7@example.com".into());
    ev.actor.user_agent = Some("aws-cli/2.15.30 Python/3.11.8 Linux/6.1".into());
    ev.actor.source_ip = Some("203.0.113.9".into());
    let resource = index.by_address("aws_security_group.g[7]");
    let ctx = DriftContext {
        event: &ev,
        resource,
        change: ChangeKind::Update,
        pending: &[],
    };
    let base = alert(now);
    let mut probe = base.clone();
    enricher.enrich(&mut probe, &ctx);
    assert!(
        probe.enrichment.blast_radius.count > 10,
        "{:?}",
        probe.enrichment.blast_radius
    );
    assert!(!probe.enrichment.history.recent.is_empty());

    let mut g = c.benchmark_group("enrich");
    g.bench_function("baseline_alert_to_json", |b| {
        b.iter(|| black_box(probe.to_json_line()));
    });
    g.bench_function("enrich_one_alert", |b| {
        b.iter(|| {
            let mut a = base.clone();
            enricher.enrich(&mut a, &ctx);
            black_box(a)
        });
    });
    g.bench_function("blast_radius_vpc_10k_dependents", |b| {
        b.iter(|| black_box(enricher.graph().blast_radius("aws_vpc.main")));
    });
    g.finish();
    c.bench_function("build_dependency_graph_10k", |b| {
        b.iter(|| black_box(tfdrift::enrich::DependencyGraph::new(&index)));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
