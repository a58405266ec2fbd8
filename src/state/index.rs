//! The in-memory index over every loaded state's managed resources.
//!
//! Lookups are scoped by Terraform type, so `name = "web"` on a security group never matches an
//! instance named "web". Keys are the `id` plus alternate identities real events use (ARN, name,
//! bucket, self link and its relative form), so an event that names a resource any of those ways
//! finds it.

use std::collections::HashMap;

use serde_json::Value;

use super::parse::Resource;

/// Attributes that identify a resource, besides `id`.
const IDENTITY_ATTRIBUTES: &[&str] = &[
    "arn",
    "name",
    "bucket",
    "self_link",
    "function_name",
    "key_id",
    "identifier",
    "email",
    "unique_id",
    "instance_id",
    "cluster_identifier",
    "role_name",
    "policy_arn",
    "domain_name",
];

/// A read-only index over managed resources; rebuilt (not mutated) on refresh so readers never
/// see a half-updated state.
#[derive(Debug, Default)]
pub struct StateIndex {
    resources: Vec<Resource>,
    /// (type, key) → resource positions.
    by_key: HashMap<(String, String), Vec<usize>>,
    /// type → resource positions, for lookups by attribute values.
    by_type: HashMap<String, Vec<usize>>,
    /// address → position.
    by_address: HashMap<String, usize>,
}

/// One line of `tfdrift state show`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StateSummary {
    /// Full address.
    pub address: String,
    /// Terraform type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// `id` attribute.
    pub id: Option<String>,
    /// Short provider name.
    pub provider: String,
    /// State file it came from.
    pub state_file: String,
}

/// The relative form of a Google self link:
/// `https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/vm` → `projects/p/zones/z/instances/vm`.
#[must_use]
pub fn relative_name(link: &str) -> Option<&str> {
    let start = link.find("/projects/")?;
    Some(&link[start + 1..])
}

impl StateIndex {
    /// Builds the index over all resources of all loaded states.
    #[must_use]
    pub fn new(resources: Vec<Resource>) -> Self {
        let mut idx = StateIndex {
            resources,
            ..StateIndex::default()
        };
        for (pos, r) in idx.resources.iter().enumerate() {
            idx.by_type.entry(r.rtype.clone()).or_default().push(pos);
            idx.by_address.insert(r.address.clone(), pos);
            let mut keys: Vec<String> = Vec::new();
            if let Some(id) = &r.id {
                keys.push(id.clone());
                if let Some(rel) = relative_name(id) {
                    keys.push(rel.to_string());
                }
            }
            for attr in IDENTITY_ATTRIBUTES {
                if let Some(v) = r.attributes.get(*attr) {
                    let s = match v {
                        Value::String(s) if !s.is_empty() => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => continue,
                    };
                    if let Some(rel) = relative_name(&s) {
                        keys.push(rel.to_string());
                    }
                    keys.push(s);
                }
            }
            keys.sort();
            keys.dedup();
            for k in keys {
                idx.by_key
                    .entry((r.rtype.clone(), k))
                    .or_default()
                    .push(pos);
            }
        }
        idx
    }

    /// Number of managed resource instances.
    #[must_use]
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// True when no state holds any managed resource.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// All resources, in load order.
    #[must_use]
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The resource of `rtype` that `key` identifies (id, ARN, name …). When several states
    /// manage the same object, the first loaded wins.
    #[must_use]
    pub fn find(&self, rtype: &str, key: &str) -> Option<&Resource> {
        // Avoid allocating a tuple key for the common miss: HashMap needs an owned key type, so
        // build it once.
        let k = (rtype.to_string(), key.to_string());
        self.by_key
            .get(&k)
            .and_then(|v| v.first())
            .map(|&p| &self.resources[p])
    }

    /// Resources of `rtype` whose attributes equal every `(attribute, value)` pair, compared as
    /// strings. Used for resources identified by a combination (role + policy ARN).
    #[must_use]
    pub fn find_by_attributes(&self, rtype: &str, pairs: &[(String, String)]) -> Vec<&Resource> {
        let Some(positions) = self.by_type.get(rtype) else {
            return Vec::new();
        };
        positions
            .iter()
            .map(|&p| &self.resources[p])
            .filter(|r| {
                pairs.iter().all(|(attr, want)| {
                    r.attributes.get(attr).is_some_and(|v| match v {
                        Value::String(s) => s.eq_ignore_ascii_case(want),
                        other => &other.to_string() == want,
                    })
                })
            })
            .collect()
    }

    /// The resource at `address`.
    #[must_use]
    pub fn by_address(&self, address: &str) -> Option<&Resource> {
        self.by_address.get(address).map(|&p| &self.resources[p])
    }

    /// Whether any loaded state manages resources of `rtype`.
    #[must_use]
    pub fn has_type(&self, rtype: &str) -> bool {
        self.by_type.contains_key(rtype)
    }

    /// Summary rows for `tfdrift state show`.
    #[must_use]
    pub fn summary(&self) -> Vec<StateSummary> {
        self.resources
            .iter()
            .map(|r| StateSummary {
                address: r.address.clone(),
                rtype: r.rtype.clone(),
                id: r.id.clone(),
                provider: r.provider.clone(),
                state_file: r.state_file.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(rtype: &str, id: &str, attributes: Value) -> Resource {
        Resource {
            address: format!("{rtype}.x"),
            rtype: rtype.to_string(),
            provider: "aws".to_string(),
            id: Some(id.to_string()),
            attributes,
            sensitive_paths: Vec::new(),
            dependencies: Vec::new(),
            state_file: "t.tfstate".into(),
            tainted: false,
        }
    }

    #[test]
    fn search_domains_are_found_by_name_and_arn() {
        // aws_opensearch_domain / aws_elasticsearch_domain keep the ARN as `id`; events name
        // the domain by `domainName`.
        let arn = "arn:aws:es:us-east-1:123456789012:domain/logs";
        let idx = StateIndex::new(vec![res(
            "aws_opensearch_domain",
            arn,
            serde_json::json!({"id": arn, "arn": arn, "domain_name": "logs"}),
        )]);
        assert!(idx.find("aws_opensearch_domain", "logs").is_some());
        assert!(idx.find("aws_opensearch_domain", arn).is_some());
        assert!(idx.find("aws_elasticsearch_domain", "logs").is_none());
    }
}
