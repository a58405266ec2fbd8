//! Data-driven catalog cases: `tests/catalog_cases/<provider>/<service>.jsonl`, one
//! `{"record": …, "expect": [{"type","id","kind","attributes"}]}` per line, run through
//! normalise + lookup + map; every catalogued event name must have at least one case.
//!
//! `attributes` keys are Terraform paths, prefixed `+` / `-` when the value is added to / removed
//! from the state's (tags, members). `TFDRIFT_BLESS=1` rewrites `expect` from the current
//! catalog: review the diff before committing it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tfdrift::catalog::{Catalog, Lookup, Op};
use tfdrift::event::CloudEvent;
use tfdrift::map::map_event;
use tfdrift::normalize::{Normalized, normalize_str};

fn case_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/catalog_cases");
    let mut out = Vec::new();
    for provider in ["aws", "gcp"] {
        for entry in std::fs::read_dir(root.join(provider)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn event_of(record: &Value) -> CloudEvent {
    let mut out = Vec::new();
    normalize_str(&record.to_string(), &mut out);
    match out.into_iter().next() {
        Some(Normalized::Event(ev)) => *ev,
        other => panic!("record does not normalise to an event: {other:?}"),
    }
}

/// What the catalog makes of a record, in the fixture's shape.
fn actual(cat: &Catalog, ev: &CloudEvent) -> Value {
    match cat.lookup(ev) {
        Lookup::Operational => json!("operational"),
        Lookup::Unknown => json!("unknown"),
        Lookup::Ambiguous(types) => json!({ "ambiguous": types }),
        Lookup::Found(m) => Value::Array(
            map_event(ev, m)
                .iter()
                .filter_map(|t| t.candidates.first())
                .map(|c| {
                    let mut attrs = Map::new();
                    for o in &c.observed {
                        let key = match o.op {
                            Op::Set => o.path.clone(),
                            Op::Add => format!("+{}", o.path),
                            Op::Remove => format!("-{}", o.path),
                        };
                        attrs.insert(key, o.value.clone());
                    }
                    let kind = serde_json::to_value(c.kind).unwrap();
                    json!({"type": c.rtype, "id": c.display_id, "kind": kind, "attributes": attrs})
                })
                .collect(),
        ),
    }
}

#[test]
fn catalog_cases_hold() {
    let cat = Catalog::embedded().unwrap();
    let bless = std::env::var_os("TFDRIFT_BLESS").is_some();
    let mut failures = Vec::new();
    for file in case_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut case: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", file.display(), n + 1));
            let ev = event_of(&case["record"]);
            let got = actual(&cat, &ev);
            if got != case["expect"] {
                if bless {
                    case["expect"] = got;
                } else {
                    failures.push(format!(
                        "{}:{} {}\n  expected {}\n  got      {}",
                        file.display(),
                        n + 1,
                        ev.action,
                        case["expect"],
                        got
                    ));
                }
            }
            lines.push(serde_json::to_string(&case).unwrap());
        }
        if bless {
            std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "{} catalog cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_catalogued_event_has_a_case() {
    let cat = Catalog::embedded().unwrap();
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for file in case_files() {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            if line.trim().is_empty() {
                continue;
            }
            let case: Value = serde_json::from_str(line).unwrap();
            let ev = event_of(&case["record"]);
            assert!(
                case["expect"].is_array(),
                "{}: case for {} expects no mapping",
                file.display(),
                ev.action
            );
            covered.insert((ev.action.clone(), ev.source.clone()));
        }
    }
    let missing: Vec<String> = cat
        .names()
        .into_iter()
        .filter(|(_, action, source)| {
            !covered
                .iter()
                .any(|(a, s)| a == action && source.as_deref().is_none_or(|src| src == s))
        })
        .map(|(p, action, source)| {
            format!("{}:{action} ({})", p.as_str(), source.unwrap_or_default())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} catalogued events have no case in tests/catalog_cases:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}
