//! Every mutating, successful corpus record whose event the catalog claims resolves to the
//! reviewed (type, id) pairs in `tests/catalog_corpus_expected.jsonl`: nothing mis-typed, nothing
//! silently dropped. `TFDRIFT_BLESS=1` rewrites the fixture; review the diff before committing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tfdrift::catalog::{Catalog, Lookup};
use tfdrift::input::{Document, expand_inputs, read_input, split_documents};
use tfdrift::map::map_event;
use tfdrift::normalize::{Normalized, normalize_document};
use tfdrift::pipeline::classify::classify;

fn replay(cat: &Catalog, corpus: &Path) -> Vec<Value> {
    let dirs = vec![corpus.join("cloudtrail"), corpus.join("gcpaudit")];
    let mut out = Vec::new();
    for path in expand_inputs(&dirs).unwrap() {
        let rel = path
            .strip_prefix(corpus)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let bytes = read_input(&path).unwrap();
        let mut units = Vec::new();
        split_documents(&bytes, |doc| {
            if let Document::Json(raw, _) = doc {
                normalize_document(raw, &mut units);
            }
        });
        for unit in units {
            let Normalized::Event(ev) = unit else {
                continue;
            };
            if classify(&ev, false).is_some() {
                continue;
            }
            let Lookup::Found(m) = cat.lookup(&ev) else {
                continue;
            };
            let changes: Vec<Value> = map_event(&ev, m)
                .iter()
                .filter_map(|t| t.candidates.first())
                .map(|c| json!([c.rtype, c.display_id]))
                .collect();
            out.push(
                json!({"file": rel, "event_id": ev.id, "action": ev.action, "changes": changes}),
            );
        }
    }
    out.sort_by_key(std::string::ToString::to_string);
    out
}

#[test]
fn corpus_events_resolve_to_reviewed_types_and_ids() {
    let cat = Catalog::embedded().unwrap();
    let got = replay(&cat, &common::corpus());
    let fixture: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/catalog_corpus_expected.jsonl");
    if std::env::var_os("TFDRIFT_BLESS").is_some() {
        let text: Vec<String> = got.iter().map(Value::to_string).collect();
        std::fs::write(&fixture, text.join("\n") + "\n").unwrap();
        return;
    }
    let want: Vec<Value> = std::fs::read_to_string(&fixture)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let missing: Vec<&Value> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<&Value> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "corpus mapping differs from the reviewed fixture\n  expected, not produced: {missing:#?}\n  produced, not expected: {extra:#?}"
    );
}
