//! Detection: a pure function from (state index, resource change) to drift.
//!
//! No I/O, no clock, no configuration: the same inputs always give the same answer, which keeps
//! golden tests exact and lets benchmarks measure just the comparison.

use serde_json::{Map, Value};

use crate::alert::{AlertKind, Diff};
use crate::catalog::{ChangeKind, Op};
use crate::compare::{combine_rules, contains_equivalent, equivalent, get_path, is_empty};
use crate::map::{Change, Locator, Touch};
use crate::state::{Resource, StateIndex};

/// A detected drift, before rules, masking and enrichment.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift<'s> {
    /// Kind of drift.
    pub kind: AlertKind,
    /// The change that revealed it.
    pub change: Change,
    /// The managed resource, when a state holds it.
    pub resource: Option<&'s Resource>,
    /// Attribute differences (unmasked: the caller masks).
    pub diffs: Vec<Diff>,
    /// Which observed values are sensitive regardless of state (by diff path).
    pub sensitive_paths: Vec<String>,
}

/// The outcome of comparing one touched resource against state.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection<'s> {
    /// Drift to report.
    Drift(Drift<'s>),
    /// The resource is managed and the event agrees with state (or re-creates it as is).
    InSync,
}

/// Finds the resource a change refers to.
#[must_use]
pub fn locate<'s>(index: &'s StateIndex, change: &Change) -> Option<&'s Resource> {
    match &change.locator {
        Locator::Keys(keys) => keys.iter().find_map(|k| {
            index.find(&change.rtype, k).or_else(|| {
                // GCP: states written by older providers keep the short name as id; accept it
                // when the project in the full name agrees.
                let (_, short) = k.rsplit_once('/')?;
                let r = index.find(&change.rtype, short)?;
                let project_ok = match r.attributes.get("project").and_then(Value::as_str) {
                    Some(p) => k.contains(&format!("projects/{p}/")),
                    None => true,
                };
                project_ok.then_some(r)
            })
        }),
        Locator::Attrs(pairs) => index
            .find_by_attributes(&change.rtype, pairs)
            .into_iter()
            .next(),
    }
}

/// Compares one touched resource against the state.
#[must_use]
pub fn detect<'s>(index: &'s StateIndex, touch: &Touch) -> Detection<'s> {
    for change in &touch.candidates {
        if let Some(resource) = locate(index, change) {
            return detect_managed(resource, change);
        }
    }
    // No state manages any candidate: report the preferred interpretation.
    let Some(change) = touch.candidates.first() else {
        return Detection::InSync;
    };
    Detection::Drift(Drift {
        kind: AlertKind::UnmanagedChange,
        change: change.clone(),
        resource: None,
        diffs: Vec::new(),
        sensitive_paths: Vec::new(),
    })
}

fn detect_managed<'s>(resource: &'s Resource, change: &Change) -> Detection<'s> {
    if change.kind == ChangeKind::Delete {
        return Detection::Drift(Drift {
            kind: AlertKind::ManagedResourceDeleted,
            change: change.clone(),
            resource: Some(resource),
            diffs: Vec::new(),
            sensitive_paths: Vec::new(),
        });
    }
    let mut diffs = Vec::new();
    let mut sensitive_paths = Vec::new();
    for obs in &change.observed {
        let state = state_value(&resource.attributes, &obs.path);
        let observed = combine(state, &obs.value, obs.op);
        if equivalent(state, &observed) {
            continue;
        }
        let before = diffs.len();
        push_diffs(&obs.path, state, &observed, &mut diffs);
        if obs.sensitive {
            sensitive_paths.extend(diffs[before..].iter().map(|d| d.path.clone()));
        }
    }
    let nothing_extracted = change.observed.is_empty();
    if diffs.is_empty()
        && !(nothing_extracted && matches!(change.kind, ChangeKind::Update | ChangeKind::Tag))
    {
        return Detection::InSync;
    }
    Detection::Drift(Drift {
        kind: AlertKind::AttributeDrift,
        change: change.clone(),
        resource: Some(resource),
        diffs,
        sensitive_paths,
    })
}

/// The state value an observation is compared with. Tag calls see the tags the cloud holds,
/// which include the provider's `default_tags`: compare them with `tags_all` (own + default)
/// when the state has it, so a default tag sent back unchanged is no drift.
fn state_value<'a>(attrs: &'a Value, path: &str) -> &'a Value {
    if path == "tags"
        && let Some(all) = attrs.get("tags_all").filter(|v| v.is_object())
    {
        return all;
    }
    get_path(attrs, path)
}

/// Applies `op` to the state value to get the value the resource has now.
fn combine(state: &Value, value: &Value, op: Op) -> Value {
    // Security-group rules are identified by protocol, ports and source, not by the whole block.
    if op != Op::Set
        && let Some(v) = combine_rules(state, value, op == Op::Remove)
    {
        return v;
    }
    match op {
        Op::Set => value.clone(),
        Op::Add => match (state, value) {
            (Value::Object(s), Value::Object(v)) => {
                let mut m = s.clone();
                m.extend(v.iter().map(|(k, x)| (k.clone(), x.clone())));
                Value::Object(m)
            }
            (Value::Null, Value::Object(_)) => value.clone(),
            _ => {
                let mut list = as_list(state);
                for x in as_list(value) {
                    if !contains_equivalent(&list, &x) {
                        list.push(x);
                    }
                }
                Value::Array(list)
            }
        },
        Op::Remove => match state {
            Value::Object(s) => {
                let keys: Vec<String> = match value {
                    Value::Object(v) => v.keys().cloned().collect(),
                    other => as_list(other)
                        .into_iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect(),
                };
                let m: Map<String, Value> = s
                    .iter()
                    .filter(|(k, _)| !keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::Object(m)
            }
            _ => {
                let remove = as_list(value);
                Value::Array(
                    as_list(state)
                        .into_iter()
                        .filter(|x| !contains_equivalent(&remove, x))
                        .collect(),
                )
            }
        },
    }
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn is_flat_map(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.values().all(|x| !x.is_object() && !x.is_array()))
}

/// Tag-like maps diff per key (`tags.Owner`); everything else as one diff.
fn push_diffs(path: &str, state: &Value, observed: &Value, out: &mut Vec<Diff>) {
    let state_map = is_flat_map(state) || is_empty(state);
    if state_map && is_flat_map(observed) && !(is_empty(state) && is_empty(observed)) {
        let empty = Map::new();
        let s = state.as_object().unwrap_or(&empty);
        let o = observed.as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = s.keys().chain(o.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let sv = s.get(k).unwrap_or(&Value::Null);
            let ov = o.get(k).unwrap_or(&Value::Null);
            if !equivalent(sv, ov) {
                out.push(Diff {
                    path: format!("{path}.{k}"),
                    state: sv.clone(),
                    observed: ov.clone(),
                });
            }
        }
        return;
    }
    out.push(Diff {
        path: path.to_string(),
        state: state.clone(),
        observed: observed.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn combine_ops() {
        assert_eq!(
            combine(&json!(["a"]), &json!(["b"]), Op::Add),
            json!(["a", "b"])
        );
        assert_eq!(combine(&json!(["a"]), &json!(["a"]), Op::Add), json!(["a"]));
        assert_eq!(
            combine(&json!(["a", "b"]), &json!(["a"]), Op::Remove),
            json!(["b"])
        );
        assert_eq!(
            combine(&json!({"x": "1", "y": "2"}), &json!(["x"]), Op::Remove),
            json!({"y": "2"})
        );
        assert_eq!(
            combine(&json!({"x": "1"}), &json!({"y": "2"}), Op::Add),
            json!({"x": "1", "y": "2"})
        );
    }

    #[test]
    fn tags_compare_with_tags_all_so_default_tags_are_not_drift() {
        let attrs =
            json!({"tags": {"Name": "logs"}, "tags_all": {"Name": "logs", "Team": "platform"}});
        // PutBucketTagging sends the whole set, default tags included.
        let observed = json!({"Name": "logs", "Team": "platform", "Owner": "alice"});
        let state = state_value(&attrs, "tags");
        let mut out = Vec::new();
        push_diffs("tags", state, &combine(state, &observed, Op::Set), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "tags.Owner");
    }

    #[test]
    fn tag_maps_diff_per_key() {
        let mut out = Vec::new();
        push_diffs(
            "tags",
            &json!({"Owner": "a", "Env": "prod"}),
            &json!({"Owner": "b", "Env": "prod"}),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "tags.Owner");
    }
}
