//! Hot-path benchmark: uncompressed CloudTrail JSON lines → normalise → map → detect → alerts,
//! over the real records of the corpus, against a real corpus state.
//!
//! Baseline in the same run: parsing every line into a `serde_json::Value` (what any consumer of
//! the log must at least do), so the figure can be read as a ratio independent of machine noise.
//! `mask`: the masking pass on one enriched alert, against serialising it.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tfdrift::catalog::Catalog;
use tfdrift::pipeline::replay::replay_bytes;
use tfdrift::pipeline::{Engine, EngineOptions, Stats};
use tfdrift::state::{StateIndex, parse_state};

/// The in-repository corpus (`tests/corpus`).
fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The 130-resource state the figures were measured on when the extended corpus is there
/// (`TFDRIFT_CORPUS`), else the largest redistributable one.
fn state_path() -> PathBuf {
    std::env::var_os("TFDRIFT_CORPUS")
        .map(|d| PathBuf::from(d).join("tfstate/isagues__terraform-demo/terraform.tfstate"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            corpus().join("tfstate/bufbuild__terraform-modules-bufstream/aws/terraform.tfstate")
        })
}

/// Every CloudTrail record of the corpus's S3 log files, one per line.
fn json_lines() -> (Vec<u8>, u64) {
    let dir = corpus().join("cloudtrail/invictus-ir__aws_dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus at tests/corpus")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut n = 0;
    for f in files {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
        for r in v["Records"].as_array().expect("Records") {
            out.extend_from_slice(serde_json::to_string(r).expect("ser").as_bytes());
            out.push(b'\n');
            n += 1;
        }
    }
    (out, n)
}

fn bench(c: &mut Criterion) {
    let (lines, n) = json_lines();
    let state_bytes = std::fs::read(state_path()).expect("state");
    let state = Arc::new(StateIndex::new(
        parse_state("s", &state_bytes).expect("state parses"),
    ));
    let catalog = Arc::new(Catalog::embedded().expect("catalog"));

    let mut g = c.benchmark_group("cloudtrail_json_lines");
    g.throughput(Throughput::Elements(n));
    g.bench_function("baseline_serde_value_parse", |b| {
        b.iter(|| {
            let mut count = 0usize;
            for line in lines.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_slice(line).expect("json");
                count += usize::from(v.is_object());
            }
            count
        });
    });
    g.bench_function("normalize_map_detect", |b| {
        b.iter(|| {
            // A fresh engine per pass: dedupe would otherwise drop every record as already seen.
            let mut engine = Engine::new(catalog.clone(), state.clone(), &EngineOptions::default())
                .expect("engine");
            let mut stats = Stats::default();
            let mut alerts = 0usize;
            replay_bytes(&mut engine, "bench", &lines, &mut stats, &mut |_| {
                alerts += 1;
            });
            assert_eq!(stats.records_read, n);
            alerts
        });
    });
    g.finish();
}

/// The masking pass every alert takes (twice: before rules and after enrichment), on a realistic
/// enriched alert: a security-group drift with tags, identity, 10 history items, 50 dependents,
/// remediation. Baseline in the same run: serialising that alert to its JSON line, which every
/// alert pays anyway.
fn bench_mask(c: &mut Criterion) {
    use std::hint::black_box;
    use tfdrift::alert::{Alert, HistoryItem};
    use tfdrift::mask::{Sensitive, mask_alert};

    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/aws-ec2/alerts.jsonl"
    ))
    .expect("golden alerts");
    let mut alert: Alert = golden
        .lines()
        .nth(1)
        .map(|l| serde_json::from_str(l).expect("an alert"))
        .expect("a second alert");
    let e = &mut alert.enrichment;
    e.identity.display = "bob@example.com (SSO DevAdmin) via console".into();
    e.identity.human = Some("bob@example.com".into());
    e.identity.role = Some("AWSReservedSSO_DevAdmin_0123456789abcdef".into());
    for (k, v) in [
        ("Name", "myapp-sg"),
        ("Owner", "team-payments@example.com"),
        ("Environment", "prod"),
        ("CostCenter", "cc-4242"),
        ("ManagedBy", "terraform"),
        ("Repo", "github.com/example/infra"),
    ] {
        e.tags.insert(k.into(), v.into());
    }
    e.owner = Some("team-payments@example.com".into());
    e.history.recent = (0..10)
        .map(|i| HistoryItem {
            time: alert.time,
            resource: "aws_security_group:sg-01d9b49ed0cbe770f".into(),
            address: Some("aws_security_group.myapp-sg".into()),
            actor: Some("arn:aws:sts::111122223333:assumed-role/deployer/bob".into()),
            kind: "attribute_drift".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            alert_id: format!("tfd-{i:024}"),
        })
        .collect();
    e.blast_radius.dependents = (0..50).map(|i| format!("aws_instance.app[{i}]")).collect();
    alert.remediation = vec![
        "terraform apply -target='aws_security_group.myapp-sg'   # restore Terraform's configuration".into(),
        "terraform apply -refresh-only -target='aws_security_group.myapp-sg'   # accept the change into state, then update the code to match".into(),
    ];
    let state =
        serde_json::json!({"tags": {"Name": "myapp-sg"}, "password": "a-state-secret-value"});
    let paths = vec!["password".to_string()];
    let with_state = Sensitive {
        state_paths: &paths,
        diff_paths: &[],
        state_attrs: Some(&state),
    };
    let mut g = c.benchmark_group("mask");
    g.bench_function("baseline_alert_to_json", |b| {
        b.iter(|| black_box(alert.to_json_line()));
    });
    g.bench_function("mask_alert", |b| {
        b.iter_batched(
            || alert.clone(),
            |mut a| {
                mask_alert(&mut a, &Sensitive::default());
                a
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("mask_alert_with_state_secrets", |b| {
        b.iter_batched(
            || alert.clone(),
            |mut a| {
                mask_alert(&mut a, &with_state);
                a
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench, bench_mask);
criterion_main!(benches);
