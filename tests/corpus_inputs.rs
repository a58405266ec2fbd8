//! Every record of the real corpus goes through normalisation and detection without a panic and
//! is accounted for: parsed, skipped or unparseable with a reason. Expected counts come from the
//! corpus's own INDEX.json (written when the corpus was collected, independently of tfdrift).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::BTreeMap;

use serde_json::Value;
use tfdrift::pipeline::EngineOptions;

fn index() -> Vec<Value> {
    let text = std::fs::read_to_string(common::corpus().join("INDEX.json")).expect("INDEX.json");
    serde_json::from_str(&text).expect("INDEX.json parses")
}

#[test]
fn every_record_file_is_fully_accounted_for() {
    let corpus = common::corpus();
    let entries = index();
    // Records per source folder, from the index and from tfdrift.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    let mut checked = 0;
    for e in &entries {
        let kind = e["kind"].as_str().unwrap_or_default();
        if kind != "cloudtrail" && kind != "gcpaudit" {
            continue;
        }
        let path = e["path"].as_str().unwrap();
        let Some(records) = e["records"].as_u64() else {
            continue; // provenance sidecars: not records
        };
        // The `.json.gz` twin of a log file holds the same records as the plain file.
        let records = if e["format"] == "gz-duplicate" {
            let plain = path.trim_end_matches(".gz");
            entries
                .iter()
                .find(|x| x["path"] == plain)
                .and_then(|x| x["records"].as_u64())
                .unwrap()
        } else {
            records
        };
        let bytes = tfdrift::input::read_input(&corpus.join(path)).expect("readable");
        let mut engine = common::engine(&[], &EngineOptions::default());
        let (_, stats) = common::replay(&mut engine, path, &bytes);
        assert_eq!(stats.records_read, records, "{path}: records read");
        assert_eq!(
            stats.parsed + stats.unparseable + stats.skipped.values().sum::<u64>(),
            stats.records_read,
            "{path}: every record accounted for"
        );
        assert_eq!(
            stats.unparseable, 0,
            "{path}: {:?}",
            stats.unparseable_examples
        );
        let source = path.split('/').take(2).collect::<Vec<_>>().join("/");
        *want.entry(source.clone()).or_default() += records;
        *got.entry(source).or_default() += stats.parsed + stats.skipped.values().sum::<u64>();
        checked += 1;
    }
    assert_eq!(checked, 137, "files checked");
    assert_eq!(want, got);
    // Totals per source, as SOURCES.md describes them (the .gz twin doubles trailscraper's 2).
    assert_eq!(want["cloudtrail/invictus-ir__aws_dataset"], 2900);
    assert_eq!(want["cloudtrail/panther-labs__panther-analysis"], 442);
    assert_eq!(want["cloudtrail/cloud-custodian__cloud-custodian"], 24);
    assert_eq!(want["cloudtrail/log2timeline__plaso"], 6);
    assert_eq!(want["cloudtrail/flosell__trailscraper"], 7);
    assert_eq!(want["gcpaudit/panther-labs__panther-analysis"], 186);
    assert_eq!(want["gcpaudit/cloud-custodian__cloud-custodian"], 45);
    assert_eq!(want["gcpaudit/log2timeline__plaso"], 11);
}

#[test]
fn non_audit_gcp_entries_are_skipped_not_guessed() {
    let path =
        common::corpus().join("gcpaudit/log2timeline__plaso/test_data/jsonl/gcp_logging.jsonl");
    let bytes = std::fs::read(&path).unwrap();
    let mut engine = common::engine(&[], &EngineOptions::default());
    let (_, stats) = common::replay(&mut engine, "gcp_logging.jsonl", &bytes);
    assert_eq!(stats.skipped.get("not_audit_log"), Some(&2));
    assert_eq!(stats.parsed, 9);
}

#[test]
fn provenance_sidecars_are_reported_as_unknown_shapes_with_origin() {
    let path =
        common::corpus().join("cloudtrail/panther-labs__panther-analysis/records.provenance.jsonl");
    let bytes = std::fs::read(&path).unwrap();
    let mut engine = common::engine(&[], &EngineOptions::default());
    let (alerts, stats) = common::replay(&mut engine, "records.provenance.jsonl", &bytes);
    assert!(alerts.is_empty());
    assert_eq!(stats.unparseable, 442);
    assert_eq!(
        stats.unparseable_examples[0].origin,
        "records.provenance.jsonl:1"
    );
    assert!(
        stats
            .unparseable_reasons
            .keys()
            .all(|r| r.contains("unknown document shape"))
    );
}

#[test]
fn failed_read_only_and_data_plane_calls_never_alert() {
    // The invictus dataset: real AWS-delivered records of an attack simulation.
    let dir = common::corpus().join("cloudtrail/invictus-ir__aws_dataset/CloudTrail");
    let mut engine = common::engine(&[], &EngineOptions::default());
    let mut all = Vec::new();
    let mut total = tfdrift::pipeline::Stats::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let (alerts, stats) = common::replay(&mut engine, &f.display().to_string(), &bytes);
        all.extend(alerts);
        total.merge(&stats);
    }
    // SOURCES.md: 300 records carry an errorCode.
    assert_eq!(total.failed_calls + failed_duplicates(&dir), 300);
    for a in &all {
        let name = a.event.name.as_str();
        assert!(
            !name.starts_with("Describe") && !name.starts_with("Get") && !name.starts_with("List"),
            "{name}"
        );
        assert!(
            ![
                "GetObject",
                "PutObject",
                "Decrypt",
                "AssumeRole",
                "ConsoleLogin"
            ]
            .contains(&name)
        );
    }
    assert!(
        total.read_only > 1000,
        "read-only calls counted: {}",
        total.read_only
    );
}

/// Failed calls that were also duplicates (same eventID delivered twice) are counted as
/// duplicates first.
fn failed_duplicates(dir: &std::path::Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut dup_failed = 0;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        for r in v["Records"].as_array().unwrap() {
            let id = r["eventID"].as_str().unwrap().to_string();
            if !seen.insert(id) && r.get("errorCode").is_some() {
                dup_failed += 1;
            }
        }
    }
    dup_failed
}
