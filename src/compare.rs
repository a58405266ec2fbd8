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

/// Source lists of a security-group rule block, each one part of a rule's identity.
const RULE_SOURCES: [&str; 4] = [
    "cidr_blocks",
    "ipv6_cidr_blocks",
    "prefix_list_ids",
    "security_groups",
];

/// Whether a value is a list of Terraform security-group rule blocks (`ingress` / `egress`).
#[must_use]
pub fn is_rule_blocks(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter()
                .all(|b| b.get("protocol").is_some() && b.get("from_port").is_some())
    })
}

/// Protocol as AWS identifies it: `6` and `tcp` are one protocol, `all` is `-1`.
fn rule_protocol(v: Option<&Value>) -> String {
    let s = match v {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "-1".to_string(),
    };
    match s.as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        "all" => "-1".into(),
        _ => s,
    }
}

fn rule_port(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// (protocol, from, to): with `-1` (all traffic) the ports do not count.
fn rule_key(b: &Value) -> (String, i64, i64) {
    let proto = rule_protocol(b.get("protocol"));
    if proto == "-1" {
        (proto, 0, 0)
    } else {
        (
            proto,
            rule_port(b.get("from_port")),
            rule_port(b.get("to_port")),
        )
    }
}

fn strings(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// Combines security-group rule blocks the way AWS identifies rules: by protocol, ports and
/// source (CIDR, IPv6 CIDR, prefix list, group, `self`) — never by description, which a revoke
/// need not repeat (the CLI's `--cidr` form cannot). `remove` takes the revoked sources out of
/// every block with the same protocol and ports (a block left without sources goes);
/// `add` appends only sources no block with that protocol and ports already has. `None` when
/// either side is not rule blocks (the caller falls back to plain list semantics).
#[must_use]
pub fn combine_rules(state: &Value, value: &Value, remove: bool) -> Option<Value> {
    if !is_rule_blocks(value) || !(is_rule_blocks(state) || is_empty(state)) {
        return None;
    }
    let mut blocks: Vec<Value> = state.as_array().cloned().unwrap_or_default();
    for change in value.as_array().into_iter().flatten() {
        let key = rule_key(change);
        if remove {
            for block in blocks.iter_mut().filter(|b| rule_key(b) == key) {
                let Some(obj) = block.as_object_mut() else {
                    continue;
                };
                for field in RULE_SOURCES {
                    let gone = strings(change.get(field));
                    if gone.is_empty() {
                        continue;
                    }
                    let kept: Vec<Value> = strings(obj.get(field))
                        .into_iter()
                        .filter(|x| !contains_equivalent(&gone, x))
                        .collect();
                    obj.insert(field.to_string(), Value::Array(kept));
                }
                if change.get("self").and_then(Value::as_bool) == Some(true) {
                    obj.insert("self".into(), Value::Bool(false));
                }
            }
            blocks.retain(|b| {
                RULE_SOURCES.iter().any(|f| !strings(b.get(*f)).is_empty())
                    || b.get("self").and_then(Value::as_bool) == Some(true)
            });
        } else {
            let mut fresh = change.clone();
            let mut any_new = change.get("self").and_then(Value::as_bool) == Some(true);
            if let Some(obj) = fresh.as_object_mut() {
                for field in RULE_SOURCES {
                    let have: Vec<Value> = blocks
                        .iter()
                        .filter(|b| rule_key(b) == key)
                        .flat_map(|b| strings(b.get(field)))
                        .collect();
                    let new: Vec<Value> = strings(change.get(field))
                        .into_iter()
                        .filter(|x| !contains_equivalent(&have, x))
                        .collect();
                    any_new |= !new.is_empty();
                    obj.insert(field.to_string(), Value::Array(new));
                }
            }
            if any_new {
                blocks.push(fresh);
            }
        }
    }
    Some(Value::Array(blocks))
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
    fn rules_are_identified_without_their_description() {
        let state = json!([
            {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"],
             "ipv6_cidr_blocks": [], "prefix_list_ids": [], "security_groups": [], "self": false, "description": "ssh"},
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
             "ipv6_cidr_blocks": [], "prefix_list_ids": [], "security_groups": [], "self": false, "description": "https"}
        ]);
        // `revoke-security-group-ingress --cidr 0.0.0.0/0 --port 443` carries no description.
        let revoke = json!([{"protocol": "6", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
            "ipv6_cidr_blocks": [], "prefix_list_ids": [], "security_groups": [], "self": false, "description": ""}]);
        let after = combine_rules(&state, &revoke, true).unwrap();
        assert_eq!(after.as_array().unwrap().len(), 1);
        assert!(!equivalent(&state, &after));
        // One source of a two-source block.
        let revoke_one = json!([{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}]);
        let after = combine_rules(&state, &revoke_one, true).unwrap();
        assert_eq!(after[0]["cidr_blocks"], json!(["10.0.0.0/8"]));
        // A rule not in state: nothing changes.
        let other = json!([{"protocol": "udp", "from_port": 53, "to_port": 53, "cidr_blocks": ["0.0.0.0/0"]}]);
        assert!(equivalent(
            &state,
            &combine_rules(&state, &other, true).unwrap()
        ));
        // Authorizing a source the block already has (another description) adds nothing.
        let again = json!([{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"], "description": ""}]);
        assert!(equivalent(
            &state,
            &combine_rules(&state, &again, false).unwrap()
        ));
        let wider = json!([{"protocol": "tcp", "from_port": 3389, "to_port": 3389, "cidr_blocks": ["0.0.0.0/0"]}]);
        assert_eq!(
            combine_rules(&state, &wider, false)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            3
        );
        // Not rule blocks: not handled here.
        assert!(combine_rules(&json!(["a"]), &json!(["b"]), true).is_none());
    }

    #[test]
    fn paths() {
        let attrs = json!({"versioning": [{"enabled": true}], "tags": {"Owner": "a"}});
        assert_eq!(get_path(&attrs, "versioning.0.enabled"), &json!(true));
        assert_eq!(get_path(&attrs, "tags.Owner"), &json!("a"));
        assert_eq!(get_path(&attrs, "nope.x"), &Value::Null);
    }
}
