//! Tags and labels, and the first-class owner / team / environment / cost centre read from them.
//!
//! The state is the source of truth for a managed resource (`tags_all` includes provider
//! `default_tags`, `labels` / `effective_labels` for Google); the event adds keys the state lacks,
//! which is all there is for a resource Terraform does not manage (`RunInstances` tag
//! specifications, `CreateBucket` labels …).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::alert::Enrichment;

/// Which tag keys mean what (`enrich:` in a profile). Matched case-insensitively, first wins.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TagKeys {
    /// Owner keys.
    pub owner: Vec<String>,
    /// Team keys.
    pub team: Vec<String>,
    /// Environment keys.
    pub environment: Vec<String>,
    /// Cost centre keys.
    pub cost_center: Vec<String>,
}

impl Default for TagKeys {
    fn default() -> Self {
        let v = |k: &[&str]| k.iter().map(|s| (*s).to_string()).collect();
        TagKeys {
            owner: v(&["Owner", "owner_email", "Contact", "created-by"]),
            team: v(&["Team", "squad", "group"]),
            environment: v(&["Environment", "env", "stage", "tier"]),
            cost_center: v(&["CostCenter", "cost-center", "cost_center", "billing"]),
        }
    }
}

/// State attributes that hold tags or labels, in increasing precedence.
const STATE_TAG_ATTRS: &[&str] = &["tags_all", "effective_labels", "labels", "tags"];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Adds key/value pairs from a map (`{"k": "v"}`) or a list of pairs (`[{"Key":…,"Value":…}]`).
fn collect(v: &Value, out: &mut BTreeMap<String, String>, overwrite: bool) {
    let mut put = |k: String, val: String| {
        if overwrite || !out.contains_key(&k) {
            out.insert(k, val);
        }
    };
    match v {
        Value::Object(o) => {
            let key = o.get("Key").or_else(|| o.get("key"));
            let val = o.get("Value").or_else(|| o.get("value"));
            if let (Some(k), Some(val)) = (key.and_then(scalar), val.and_then(scalar)) {
                put(k, val);
                return;
            }
            for (k, val) in o {
                if let Some(s) = scalar(val) {
                    put(k.clone(), s);
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                if let Value::Object(o) = item {
                    let key = o.get("Key").or_else(|| o.get("key")).and_then(scalar);
                    let val = o.get("Value").or_else(|| o.get("value")).and_then(scalar);
                    if let (Some(k), Some(val)) = (key, val) {
                        put(k, val);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Tags in a request body: `tags`, `labels`, `tagSet.items`, `tagSpecificationSet.items[].tags`,
/// `TagSpecifications[].Tags`, searched a few levels deep.
fn event_tags(v: &Value, depth: usize, out: &mut BTreeMap<String, String>) {
    if depth > 4 {
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                let lk = k.to_ascii_lowercase();
                if matches!(lk.as_str(), "tags" | "labels" | "tagset" | "tag") {
                    let inner = val.get("items").unwrap_or(val);
                    collect(inner, out, false);
                } else if matches!(val, Value::Object(_) | Value::Array(_)) {
                    event_tags(val, depth + 1, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| event_tags(x, depth + 1, out)),
        _ => {}
    }
}

/// Fills `tags`, `owner`, `team`, `environment`, `cost_center`.
pub fn apply(e: &mut Enrichment, state_attrs: Option<&Value>, request: &Value, keys: &TagKeys) {
    let mut tags = BTreeMap::new();
    if let Some(attrs) = state_attrs {
        for a in STATE_TAG_ATTRS {
            if let Some(v) = attrs.get(*a) {
                collect(v, &mut tags, true);
            }
        }
    }
    event_tags(request, 0, &mut tags);
    let pick = |wanted: &[String]| {
        wanted.iter().find_map(|w| {
            tags.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(w))
                .map(|(_, v)| v.clone())
        })
    };
    e.owner = pick(&keys.owner);
    e.team = pick(&keys.team);
    e.environment = pick(&keys.environment);
    e.cost_center = pick(&keys.cost_center);
    e.tags = tags;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_then_event_and_first_class_fields() {
        let attrs = json!({"tags": {"Owner": "alice", "Name": "web"},
                           "tags_all": {"Owner": "default-owner", "env": "prod", "CostCenter": "42"}});
        let req = json!({"tagSpecificationSet": {"items": [{"resourceType": "instance",
            "tags": [{"key": "team", "value": "payments"}, {"key": "Name", "value": "from-event"}]}]}});
        let mut e = Enrichment::default();
        apply(&mut e, Some(&attrs), &req, &TagKeys::default());
        assert_eq!(e.owner.as_deref(), Some("alice"), "tags beat tags_all");
        assert_eq!(e.environment.as_deref(), Some("prod"));
        assert_eq!(e.cost_center.as_deref(), Some("42"));
        assert_eq!(e.team.as_deref(), Some("payments"), "from the event");
        assert_eq!(e.tags["Name"], "web", "state beats event");
    }
}
