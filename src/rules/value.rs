//! JSON value helpers for conditions: walking attribute paths into diff values and type-aware
//! comparison (`"true"` equals `true`, `"256"` equals `256`), since event payloads and Terraform
//! state disagree about types all the time.

use super::model::Segment;
use serde_json::{Map, Value};

/// Pushes every value reached from `v` by `segs` onto `out`.
///
/// `*` visits every array element or map value. A key on an array applies to each element (so
/// `ingress.cidr_blocks` works like `ingress.*.cidr_blocks`); a numeric key indexes an array; `0`
/// on a map treats the map as a one-element block (events often flatten Terraform's list blocks).
pub fn walk<'a>(v: &'a Value, segs: &[Segment], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(v);
        return;
    };
    match (first, v) {
        (Segment::Any, Value::Array(items)) => items.iter().for_each(|i| walk(i, rest, out)),
        (Segment::Any, Value::Object(map)) => map.values().for_each(|i| walk(i, rest, out)),
        (Segment::Key(k), Value::Object(map)) => {
            if let Some(child) = map.get(k) {
                walk(child, rest, out);
            } else if k == "0" {
                walk(v, rest, out);
            }
        }
        (Segment::Key(k), Value::Array(items)) => {
            if let Ok(idx) = k.parse::<usize>() {
                if let Some(child) = items.get(idx) {
                    walk(child, rest, out);
                }
            } else {
                for item in items {
                    walk(item, segs, out);
                }
            }
        }
        _ => {}
    }
}

/// Like [`walk`] but starting from a map (the `context.tags` input).
pub fn walk_map<'a>(map: &'a Map<String, Value>, segs: &[Segment], out: &mut Vec<&'a Value>) {
    match segs.split_first() {
        Some((Segment::Key(k), rest)) => {
            if let Some(child) = map.get(k) {
                walk(child, rest, out);
            }
        }
        Some((Segment::Any, rest)) => map.values().for_each(|v| walk(v, rest, out)),
        None => {}
    }
}

/// Type-aware equality.
#[must_use]
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::String(s), Value::Bool(v)) | (Value::Bool(v), Value::String(s)) => s
            .trim()
            .eq_ignore_ascii_case(if *v { "true" } else { "false" }),
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(x, y)| x == y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        _ => a == b,
    }
}

/// `loose_eq`, or — when `candidate` is a list and `wanted` is not — some element equals it.
#[must_use]
pub fn eq_or_element(candidate: &Value, wanted: &Value) -> bool {
    loose_eq(candidate, wanted)
        || (matches!(candidate, Value::Array(_)) && !matches!(wanted, Value::Array(_)))
            && candidate
                .as_array()
                .is_some_and(|items| items.iter().any(|i| loose_eq(i, wanted)))
}

/// Calls `f` with the text of every scalar in `v` (lists are flattened, maps are compact JSON);
/// stops at the first `true`.
pub fn any_text(v: &Value, f: &mut dyn FnMut(&str) -> bool) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => f(s),
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        Value::Number(n) => f(&n.to_string()),
        Value::Array(items) => items.iter().any(|i| any_text(i, f)),
        Value::Object(_) => f(&v.to_string()),
    }
}

/// Numeric view of a scalar (`"256"` → 256).
#[must_use]
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether two value lists hold the same values, ignoring order (Terraform sets are unordered).
/// Allocation-free for the usual small lists (this runs for every `changed` condition).
#[must_use]
pub fn same_values(a: &[&Value], b: &[&Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.iter().zip(b).all(|(x, y)| x == y) {
        return true;
    }
    if a.len() <= 64 {
        let mut used = 0u64;
        return a.iter().all(|x| {
            let found = b
                .iter()
                .enumerate()
                .find(|(i, y)| used & (1 << i) == 0 && x == *y);
            found.is_some_and(|(i, _)| {
                used |= 1 << i;
                true
            })
        });
    }
    let key = |v: &&Value| v.to_string();
    let mut x: Vec<String> = a.iter().map(key).collect();
    let mut y: Vec<String> = b.iter().map(key).collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::model::AttrPath;
    use serde_json::json;

    fn get<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
        let mut out = Vec::new();
        walk(v, &AttrPath::parse(path).segments, &mut out);
        out
    }

    #[test]
    fn walks_wildcards_indices_and_flattened_blocks() {
        let v =
            json!({"ingress": [{"cidr_blocks": ["10.0.0.0/8"]}, {"cidr_blocks": ["0.0.0.0/0"]}]});
        assert_eq!(get(&v, "ingress.*.cidr_blocks").len(), 2);
        assert_eq!(
            get(&v, "ingress.1.cidr_blocks"),
            vec![&json!(["0.0.0.0/0"])]
        );
        assert_eq!(get(&v, "ingress.cidr_blocks").len(), 2);
        let flat = json!({"versioning": {"enabled": false}});
        assert_eq!(get(&flat, "versioning.0.enabled"), vec![&json!(false)]);
        assert!(get(&flat, "missing.x").is_empty());
    }

    #[test]
    fn loose_equality_is_type_aware() {
        assert!(loose_eq(&json!("true"), &json!(true)));
        assert!(loose_eq(&json!("256"), &json!(256)));
        assert!(loose_eq(&json!(256.0), &json!(256)));
        assert!(!loose_eq(&json!("false"), &json!(true)));
        assert!(!loose_eq(&json!("x"), &json!(1)));
        assert!(eq_or_element(&json!(["a", "b"]), &json!("b")));
        assert!(same_values(
            &[&json!(1), &json!(2)],
            &[&json!(2), &json!(1)]
        ));
    }
}
