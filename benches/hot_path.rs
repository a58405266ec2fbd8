//! Hot-path benchmark: uncompressed CloudTrail JSON lines → normalise → map → detect → alerts,
//! over the real records of the corpus, against a real corpus state.
//!
//! Baseline in the same run: parsing every line into a `serde_json::Value` (what any consumer of
//! the log must at least do), so the figure can be read as a ratio independent of machine noise.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

criterion_group!(benches, bench);
criterion_main!(benches);
