//! The diff model for the selected alert: each attribute's state and observed values rendered
//! as text (policies as canonical pretty JSON), diffed line- then word-level with `similar`.
//! Computed once when the selection changes, not per frame.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use similar::{ChangeTag, TextDiff};

use crate::alert::Alert;

/// Unchanged lines kept around each change; longer runs collapse to `⋯ N unchanged lines`.
const CONTEXT: usize = 3;

/// A piece of a line; `emph` marks the words that changed inside a changed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    /// Changed word.
    pub emph: bool,
    /// Text (no newline).
    pub text: String,
}

/// One line of one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Equal, Delete (state side) or Insert (observed side).
    pub tag: ChangeTag,
    /// Pieces.
    pub segs: Vec<Seg>,
}

impl Line {
    /// The plain text.
    #[must_use]
    pub fn text(&self) -> String {
        self.segs.iter().map(|s| s.text.as_str()).collect()
    }
}

/// A side-by-side row: state line left, observed line right (either may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Terraform state side.
    pub left: Option<Line>,
    /// Observed side.
    pub right: Option<Line>,
}

/// The diff of one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDiff {
    /// Attribute path.
    pub path: String,
    /// Side-by-side rows.
    pub rows: Vec<Row>,
    /// Unified lines (deletions before insertions within a change).
    pub unified: Vec<Line>,
    /// Lines changed (for the header).
    pub changed: usize,
}

/// Recursively sorts object keys so equal JSON prints equally.
#[must_use]
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A value as diffable text: JSON documents (also inside strings, like policies) pretty and
/// canonical; plain strings as they are; `null` as "(absent)".
#[must_use]
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "(absent)".to_string(),
        Value::String(s) => {
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(parsed) = serde_json::from_str::<Value>(s)
            {
                return pretty(&parsed);
            }
            s.clone()
        }
        other => pretty(other),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(&canonical(v)).unwrap_or_else(|_| v.to_string())
}

/// Diffs two texts.
#[must_use]
pub fn diff_texts(path: &str, old: &str, new: &str) -> AttrDiff {
    let diff = TextDiff::from_lines(old, new);
    let mut rows = Vec::new();
    let mut unified = Vec::new();
    let mut changed = 0;
    let total_old = old.lines().count();
    let mut prev_end = 0;
    let gap_line = |n: usize| Line {
        tag: ChangeTag::Equal,
        segs: vec![Seg {
            emph: false,
            text: format!("⋯ {n} unchanged line{}", if n == 1 { "" } else { "s" }),
        }],
    };
    for group in diff.grouped_ops(CONTEXT) {
        let start = group.first().map_or(prev_end, |op| op.old_range().start);
        if start > prev_end {
            let g = gap_line(start - prev_end);
            unified.push(g.clone());
            rows.push(Row {
                left: Some(g.clone()),
                right: Some(g),
            });
        }
        prev_end = group.last().map_or(start, |op| op.old_range().end);
        for op in &group {
            let mut dels = Vec::new();
            let mut inss = Vec::new();
            let mut eqs = Vec::new();
            for change in diff.iter_inline_changes(op) {
                let segs: Vec<Seg> = change
                    .iter_strings_lossy()
                    .map(|(emph, s)| Seg {
                        emph,
                        text: s.trim_end_matches(['\n', '\r']).to_string(),
                    })
                    .filter(|s| !s.text.is_empty())
                    .collect();
                let line = Line {
                    tag: change.tag(),
                    segs,
                };
                match change.tag() {
                    ChangeTag::Equal => eqs.push(line),
                    ChangeTag::Delete => dels.push(line),
                    ChangeTag::Insert => inss.push(line),
                }
            }
            for l in eqs {
                unified.push(l.clone());
                rows.push(Row {
                    left: Some(l.clone()),
                    right: Some(l),
                });
            }
            changed += dels.len().max(inss.len());
            unified.extend(dels.iter().cloned());
            unified.extend(inss.iter().cloned());
            let n = dels.len().max(inss.len());
            let mut d = dels.into_iter();
            let mut i = inss.into_iter();
            for _ in 0..n {
                rows.push(Row {
                    left: d.next(),
                    right: i.next(),
                });
            }
        }
    }
    if total_old > prev_end && !rows.is_empty() {
        let g = gap_line(total_old - prev_end);
        unified.push(g.clone());
        rows.push(Row {
            left: Some(g.clone()),
            right: Some(g),
        });
    }
    AttrDiff {
        path: path.to_string(),
        rows,
        unified,
        changed,
    }
}

/// Every attribute diff of an alert.
#[must_use]
pub fn alert_diffs(a: &Alert) -> Vec<AttrDiff> {
    a.diffs
        .iter()
        .map(|d| diff_texts(&d.path, &value_text(&d.state), &value_text(&d.observed)))
        .collect()
}

/// The diff as plain unified text (for the clipboard).
#[must_use]
pub fn unified_text(a: &Alert, diffs: &[AttrDiff]) -> String {
    let mut s = format!(
        "# {} {}\n",
        a.resource.address.as_deref().unwrap_or(&a.resource.id),
        a.kind.as_str()
    );
    for d in diffs {
        let _ = write!(s, "--- state: {}\n+++ observed: {}\n", d.path, d.path);
        for l in &d.unified {
            let p = match l.tag {
                ChangeTag::Equal => ' ',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            };
            s.push(p);
            s.push_str(&l.text());
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_are_canonical_and_word_diffed() {
        let state = json!("{\"b\":1,\"a\":{\"Effect\":\"Deny\"}}");
        let observed = json!({"a": {"Effect": "Allow"}, "b": 1});
        let d = diff_texts("policy", &value_text(&state), &value_text(&observed));
        assert_eq!(d.changed, 1);
        let changed_row = d
            .rows
            .iter()
            .find(|r| r.left.as_ref().is_some_and(|l| l.tag == ChangeTag::Delete))
            .expect("a changed row");
        let left = changed_row.left.as_ref().expect("left");
        assert!(left.segs.iter().any(|s| s.emph && s.text.contains("Deny")));
        assert!(value_text(&json!(null)).contains("absent"));
        assert_eq!(value_text(&json!("t2.micro")), "t2.micro");
    }
}
