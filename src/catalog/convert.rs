//! Value conversions from an API's request shape to the shape Terraform keeps in state.
//!
//! Each conversion is small and total: input it does not understand yields `None` (the attribute
//! is then not compared) rather than a wrong value.

use serde_json::{Map, Value, json};

use super::spec::Convert;

/// Applies `conv` to `v`.
#[must_use]
pub fn convert(conv: Convert, v: &Value) -> Option<Value> {
    match conv {
        Convert::Raw => Some(v.clone()),
        Convert::String => match v {
            Value::String(_) => Some(v.clone()),
            Value::Number(n) => Some(Value::String(n.to_string())),
            Value::Bool(b) => Some(Value::String(b.to_string())),
            _ => None,
        },
        Convert::Bool => to_bool(unwrap_value(v)).map(Value::Bool),
        Convert::Int => to_int(unwrap_value(v)).map(Value::from),
        Convert::Json => parse_json_text(v),
        Convert::List => Some(to_list(v)),
        Convert::Tags => Some(Value::Object(tags(v))),
        Convert::TagKeys => Some(Value::Array(
            tag_keys(v).into_iter().map(Value::String).collect(),
        )),
        Convert::Ec2IpPermissions => ip_permissions(v),
        Convert::Ec2Value => Some(unwrap_value(v).clone()),
        Convert::S3VersioningStatus => versioning_status(v).map(Value::String),
        Convert::S3VersioningEnabled => versioning_status(v).map(|s| Value::Bool(s == "Enabled")),
        Convert::LambdaEnvironment => {
            let vars = v.get("variables").cloned().unwrap_or_else(|| json!({}));
            Some(json!([{ "variables": vars }]))
        }
        Convert::GcpFirewallRules => Some(Value::Array(
            to_list(v)
                .as_array()
                .map(|a| a.iter().filter_map(gcp_firewall_rule).collect())
                .unwrap_or_default(),
        )),
        Convert::Labels => match v {
            Value::Object(o) if o.is_empty() => Some(Value::Null),
            Value::Object(_) => Some(v.clone()),
            _ => None,
        },
    }
}

/// EC2 wraps scalar attributes as `{"value": x}`.
fn unwrap_value(v: &Value) -> &Value {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("value") => &o["value"],
        _ => v,
    }
}

fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "enabled" | "yes" | "on" | "1" => Some(true),
            "false" | "disabled" | "suspended" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// JSON documents arrive as objects, JSON text, or URL-encoded JSON text (IAM).
#[must_use]
pub fn parse_json_text(v: &Value) -> Option<Value> {
    match v {
        Value::Object(_) | Value::Array(_) => Some(v.clone()),
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with('{') || t.starts_with('[') {
                serde_json::from_str(t).ok()
            } else if t.starts_with("%7B") || t.starts_with("%7b") {
                let decoded = percent_encoding::percent_decode_str(t).decode_utf8().ok()?;
                serde_json::from_str(&decoded).ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `{items:[…]}` → `[…]`, a scalar → `[scalar]`, an array stays.
fn to_list(v: &Value) -> Value {
    match v {
        Value::Array(_) => v.clone(),
        Value::Object(o) if o.contains_key("items") => match &o["items"] {
            Value::Array(a) => Value::Array(a.clone()),
            other => Value::Array(vec![other.clone()]),
        },
        Value::Null => Value::Array(Vec::new()),
        other => Value::Array(vec![other.clone()]),
    }
}

fn pair(o: &Map<String, Value>) -> Option<(String, Value)> {
    let k = o.get("key").or_else(|| o.get("Key"))?.as_str()?.to_string();
    let v = o
        .get("value")
        .or_else(|| o.get("Value"))
        .cloned()
        .unwrap_or(Value::String(String::new()));
    Some((k, v))
}

/// Tags in any AWS shape → `{key: value}`.
fn tags(v: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    match v {
        Value::Array(items) => {
            for item in items {
                if let Value::Object(o) = item
                    && let Some((k, val)) = pair(o)
                {
                    out.insert(k, val);
                }
            }
        }
        Value::Object(o) => {
            for wrapper in [
                "items", "Items", "TagSet", "Tag", "tagSet", "Tags", "tags", "tagList", "TagList",
            ] {
                if let Some(inner) = o.get(wrapper) {
                    return tags(inner);
                }
            }
            if let Some((k, val)) = pair(o) {
                out.insert(k, val);
            } else {
                for (k, val) in o {
                    if !val.is_object() && !val.is_array() {
                        out.insert(k.clone(), val.clone());
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn tag_keys(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o
                    .get("key")
                    .or_else(|| o.get("Key"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            })
            .collect(),
        Value::Object(o) => {
            for wrapper in ["items", "tagKeys", "TagKeys"] {
                if let Some(inner) = o.get(wrapper) {
                    return tag_keys(inner);
                }
            }
            o.keys().cloned().collect()
        }
        _ => Vec::new(),
    }
}

fn versioning_status(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("Status")
            .or_else(|| o.get("status"))
            .and_then(Value::as_str)?
            .to_string(),
        _ => return None,
    };
    Some(s)
}

fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Object(o)) => match o.get("items") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => Vec::new(),
        },
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

fn protocol_name(p: &Value) -> String {
    let s = match p {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "-1".to_string(),
    };
    match s.as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        "all" => "-1".into(),
        _ => s.to_ascii_lowercase(),
    }
}

fn port(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// EC2 `ipPermissions` (`{items:[…]}` or an array), or the legacy flat form (`cidrIp`,
/// `ipProtocol`, `fromPort`, `toPort` at the top of the request) → Terraform rule blocks.
fn ip_permissions(v: &Value) -> Option<Value> {
    let perms: Vec<&Value> = if v.get("ipProtocol").is_some() && v.get("items").is_none() {
        vec![v]
    } else {
        items(Some(v))
    };
    if perms.is_empty() {
        return None;
    }
    let mut blocks = Vec::new();
    for p in perms {
        let mut cidrs = Vec::new();
        let mut description = String::new();
        for r in items(p.get("ipRanges")) {
            if let Some(c) = r.get("cidrIp").and_then(Value::as_str) {
                cidrs.push(Value::String(c.to_string()));
            }
            if description.is_empty()
                && let Some(d) = r.get("description").and_then(Value::as_str)
            {
                description = d.to_string();
            }
        }
        if let Some(c) = p.get("cidrIp").and_then(Value::as_str) {
            cidrs.push(Value::String(c.to_string()));
        }
        let ipv6: Vec<Value> = items(p.get("ipv6Ranges"))
            .into_iter()
            .filter_map(|r| r.get("cidrIpv6").cloned())
            .collect();
        let prefixes: Vec<Value> = items(p.get("prefixListIds"))
            .into_iter()
            .filter_map(|r| r.get("prefixListId").cloned())
            .collect();
        let mut groups: Vec<Value> = items(p.get("groups"))
            .into_iter()
            .filter_map(|r| r.get("groupId").or_else(|| r.get("groupName")).cloned())
            .collect();
        // One rule as `RevokeSecurityGroup*` returns it (`revokedSecurityGroupRuleSet`) or as
        // `DescribeSecurityGroupRules` names it: a single source per rule.
        let mut ipv6 = ipv6;
        let mut prefixes = prefixes;
        if let Some(c) = p.get("cidrIpv4").and_then(Value::as_str) {
            cidrs.push(Value::String(c.to_string()));
        }
        if let Some(c) = p.get("cidrIpv6").cloned() {
            ipv6.push(c);
        }
        if let Some(c) = p.get("prefixListId").cloned() {
            prefixes.push(c);
        }
        if let Some(g) = p
            .get("referencedGroupId")
            .or_else(|| p.pointer("/referencedGroupInfo/groupId"))
            .cloned()
        {
            groups.push(g);
        }
        if description.is_empty()
            && let Some(d) = p.get("description").and_then(Value::as_str)
        {
            description = d.to_string();
        }
        blocks.push(json!({
            "cidr_blocks": cidrs,
            "description": description,
            "from_port": port(p.get("fromPort")),
            "ipv6_cidr_blocks": ipv6,
            "prefix_list_ids": prefixes,
            "protocol": protocol_name(p.get("ipProtocol").unwrap_or(&Value::Null)),
            "security_groups": groups,
            "self": false,
            "to_port": port(p.get("toPort")),
        }));
    }
    Some(Value::Array(blocks))
}

fn gcp_firewall_rule(r: &Value) -> Option<Value> {
    let protocol = r
        .get("IPProtocol")
        .or_else(|| r.get("ipProtocol"))
        .or_else(|| r.get("protocol"))?
        .as_str()?
        .to_ascii_lowercase();
    let ports = match r.get("ports") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        _ => Vec::new(),
    };
    Some(json!({ "protocol": protocol, "ports": ports }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_permissions_to_rule_blocks() {
        let v = json!({"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{},
            "ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]});
        let out = convert(Convert::Ec2IpPermissions, &v).unwrap();
        assert_eq!(out[0]["cidr_blocks"], json!(["0.0.0.0/0"]));
        assert_eq!(out[0]["protocol"], "tcp");
        assert_eq!(out[0]["from_port"], 22);
    }

    #[test]
    fn tags_in_every_shape() {
        let want = json!({"Owner": "alice"});
        for v in [
            json!({"items":[{"key":"Owner","value":"alice"}]}),
            json!([{"Key":"Owner","Value":"alice"}]),
            json!({"Owner":"alice"}),
            json!({"TagSet":{"Tag":{"Key":"Owner","Value":"alice"}}}),
            json!({"TagSet":{"Tag":[{"Key":"Owner","Value":"alice"}]}}),
            json!({"Tags":{"Items":[{"Key":"Owner","Value":"alice"}]}}),
            json!({"tags":{"items":[{"key":"Owner","value":"alice"}]}}),
            json!({"tagList":[{"key":"Owner","value":"alice"}]}),
            json!({"TagList":[{"Key":"Owner","Value":"alice"}]}),
        ] {
            assert_eq!(convert(Convert::Tags, &v).unwrap(), want, "{v}");
        }
        assert_eq!(
            convert(
                Convert::TagKeys,
                &json!({"items":[{"key":"a"},{"key":"b"}]})
            )
            .unwrap(),
            json!(["a", "b"])
        );
    }

    #[test]
    fn scalars_and_json() {
        assert_eq!(
            convert(Convert::Bool, &json!({"value": "false"})),
            Some(json!(false))
        );
        assert_eq!(convert(Convert::Int, &json!("30")), Some(json!(30)));
        assert_eq!(
            convert(
                Convert::Json,
                &json!("%7B%22Version%22%3A%222012-10-17%22%7D")
            ),
            Some(json!({"Version": "2012-10-17"}))
        );
        assert_eq!(
            convert(
                Convert::S3VersioningEnabled,
                &json!({"Status": "Suspended"})
            ),
            Some(json!(false))
        );
    }
}
