//! Type-aware value comparison between Terraform state and observed API values.
//!
//! Terraform and the cloud APIs disagree on representation, not meaning: `"256"` vs `256`,
//! `"true"` vs `true`, a policy as JSON text vs as an object with keys in another order, a single
//! IAM action vs a one-element list, sets in any order. These are equal here; anything else is
//! drift.

use serde_json::Value;

use crate::catalog::convert::parse_json_text;

/// True when `a` and `b` mean the same thing to Terraform.
#[must_use]
pub fn equivalent(a: &Value, b: &Value) -> bool {
    eq(&json_or_self(a), &json_or_self(b))
}

/// Parses JSON text (policies) into a value; anything else is returned as is.
fn json_or_self(v: &Value) -> std::borrow::Cow<'_, Value> {
    match v {
        Value::String(_) => match parse_json_text(v) {
            Some(parsed) => std::borrow::Cow::Owned(parsed),
            None => std::borrow::Cow::Borrowed(v),
        },
        _ => std::borrow::Cow::Borrowed(v),
    }
}

/// Empty in Terraform's eyes: null, "", [], {}.
#[must_use]
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn eq(a: &Value, b: &Value) -> bool {
    if is_empty(a) && is_empty(b) {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        (Value::String(x), Value::String(y)) => {
            x == y || {
                // JSON text on both sides (nested policies inside blocks).
                let (px, py) = (parse_json_text(a), parse_json_text(b));
                matches!((px, py), (Some(px), Some(py)) if eq(&px, &py))
            }
        }
        (Value::Array(x), Value::Array(y)) => set_eq(x, y),
        // IAM: "Action": "s3:GetObject" == ["s3:GetObject"]; "Statement": {…} == [{…}].
        (Value::Array(x), other) | (other, Value::Array(x)) if x.len() == 1 => eq(&x[0], other),
        (Value::Object(x), Value::Object(y)) => {
            let keys_a = x.iter().filter(|(_, v)| !is_empty(v)).count();
            let keys_b = y.iter().filter(|(_, v)| !is_empty(v)).count();
            keys_a == keys_b
                && x.iter().all(|(k, va)| match y.get(k) {
                    Some(vb) => eq(&json_or_self(va), &json_or_self(vb)),
                    None => is_empty(va),
                })
        }
        _ => a == b,
    }
}

/// Order-insensitive multiset equality (Terraform sets; AWS returns lists in any order).
fn set_eq(x: &[Value], y: &[Value]) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let mut used = vec![false; y.len()];
    'outer: for a in x {
        for (i, b) in y.iter().enumerate() {
            if !used[i] && eq(&json_or_self(a), &json_or_self(b)) {
                used[i] = true;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

/// Whether `list` holds an element equivalent to `v`.
#[must_use]
pub fn contains_equivalent(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| equivalent(x, v))
}

/// Reads a dotted Terraform attribute path (`versioning.0.enabled`, `tags.Owner`) from state
/// attributes; missing steps give `Null`.
#[must_use]
pub fn get_path<'a>(attrs: &'a Value, path: &str) -> &'a Value {
    let mut cur = attrs;
    for seg in path.split('.') {
        let next = match cur {
            Value::Object(o) => o.get(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return &Value::Null,
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn representation_differences_are_equal() {
        assert!(equivalent(&json!("256"), &json!(256)));
        assert!(equivalent(&json!("true"), &json!(true)));
        assert!(equivalent(&json!(null), &json!("")));
        assert!(equivalent(&json!([]), &json!(null)));
        assert!(equivalent(&json!(["a", "b"]), &json!(["b", "a"])));
        assert!(!equivalent(&json!(["a", "b"]), &json!(["a"])));
        assert!(!equivalent(&json!("t3.micro"), &json!("t3.large")));
    }

    #[test]
    fn policies_compare_parsed() {
        let state = json!(
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"
        );
        let observed = json!({"Statement":{"Resource":"*","Action":["s3:GetObject"],"Effect":"Allow"},"Version":"2012-10-17"});
        assert!(equivalent(&state, &observed));
        let widened = json!({"Statement":{"Resource":"*","Action":"s3:*","Effect":"Allow"},"Version":"2012-10-17"});
        assert!(!equivalent(&state, &widened));
        let encoded = json!("%7B%22Version%22%3A%222012-10-17%22%7D");
        assert!(equivalent(&encoded, &json!({"Version": "2012-10-17"})));
    }

    #[test]
    fn paths() {
        let attrs = json!({"versioning": [{"enabled": true}], "tags": {"Owner": "a"}});
        assert_eq!(get_path(&attrs, "versioning.0.enabled"), &json!(true));
        assert_eq!(get_path(&attrs, "tags.Owner"), &json!("a"));
        assert_eq!(get_path(&attrs, "nope.x"), &Value::Null);
    }
}
