//! Parsing one Terraform state file (format v4) into managed resources.
//!
//! Tolerant of unknown and newer fields; strict about what would make the index wrong: an older
//! format, an encrypted envelope or a truncated file is an error that says so.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

/// A managed resource instance from a state file.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Full address: `module.net.aws_subnet.private[1]`, `aws_s3_bucket.b["logs"]`.
    pub address: String,
    /// Terraform resource type (`aws_security_group`).
    pub rtype: String,
    /// Short provider name (`aws`, `google`), from the provider address.
    pub provider: String,
    /// The `id` attribute, when the resource has one.
    pub id: Option<String>,
    /// All attributes as the state holds them.
    pub attributes: Value,
    /// Dotted attribute paths Terraform marks sensitive (`password`, `environment.0.variables`).
    pub sensitive_paths: Vec<String>,
    /// Addresses this resource depends on (from `dependencies`), for blast radius.
    pub dependencies: Vec<String>,
    /// The state file this came from: several states may be loaded at once.
    pub state_file: Arc<str>,
    /// `status: tainted` in the state.
    pub tainted: bool,
}

/// Why a state file could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not JSON at all, or truncated.
    #[error(
        "state '{file}' is not valid JSON at line {line}, column {column}: {message} (is the file truncated? try `terraform state pull > FILE`)"
    )]
    Json {
        /// State file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// Valid JSON that is not a state (missing `version` / `resources`), e.g. OpenTofu encryption.
    #[error(
        "'{file}' is not a readable Terraform state: no `{missing}` key (encrypted with OpenTofu state encryption, or not a state file?)"
    )]
    NotState {
        /// State file.
        file: String,
        /// Key that is missing.
        missing: &'static str,
    },
    /// Format older or newer than v4.
    #[error(
        "state '{file}' has format version {version}; tfdrift reads version 4 (Terraform ≥ 0.12, OpenTofu): upgrade it with a current `terraform state pull`"
    )]
    Version {
        /// State file.
        file: String,
        /// Version found.
        version: u64,
    },
}

#[derive(Deserialize)]
struct RawState {
    version: Option<u64>,
    #[serde(default)]
    resources: Option<Vec<RawResource>>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type")]
    rtype: String,
    name: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

#[derive(Deserialize)]
struct RawInstance {
    #[serde(default)]
    index_key: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    attributes: Option<Value>,
    #[serde(default)]
    attributes_flat: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    sensitive_attributes: Option<Value>,
    #[serde(default)]
    dependencies: Option<Vec<String>>,
}

/// Short provider name from a provider address:
/// `provider["registry.terraform.io/hashicorp/aws"].west` → `aws`, `provider.aws` → `aws`,
/// `module.x.provider.aws.west` → `aws`.
#[must_use]
pub fn provider_short(provider: &str) -> String {
    if let Some(start) = provider.find("[\"") {
        let inner = &provider[start + 2..];
        let inner = inner.split("\"]").next().unwrap_or(inner);
        return inner.rsplit('/').next().unwrap_or(inner).to_string();
    }
    if let Some(rest) = provider.split("provider.").nth(1) {
        return rest.split('.').next().unwrap_or(rest).to_string();
    }
    provider.to_string()
}

/// Provider guessed from a resource type prefix, for states that omit the provider.
fn provider_from_type(rtype: &str) -> String {
    rtype.split('_').next().unwrap_or(rtype).to_string()
}

fn index_suffix(key: Option<&Value>) -> String {
    match key {
        Some(Value::Number(n)) => format!("[{n}]"),
        Some(Value::String(s)) => format!("[{}]", Value::String(s.clone())),
        _ => String::new(),
    }
}

/// Converts Terraform's sensitive path steps into dotted paths.
fn sensitive_paths(v: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(paths)) = v else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|p| {
            let steps = p.as_array()?;
            let parts: Vec<String> = steps
                .iter()
                .filter_map(|step| match step.get("value")? {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => match o.get("value")? {
                        Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    },
                    other => Some(other.to_string()),
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("."))
        })
        .collect()
}

/// Parses a state file's bytes. `file` names it in errors and in each resource.
pub fn parse_state(file: &str, bytes: &[u8]) -> Result<Vec<Resource>, StateError> {
    // Through `Value` first: Go's encoder (and hand edits) can leave duplicate keys, which Go
    // and Terraform accept (last wins); serde's derive would reject them.
    let value: Value = serde_json::from_slice(bytes).map_err(|e| StateError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let raw: RawState = serde_json::from_value(value).map_err(|e| StateError::Json {
        file: file.to_string(),
        line: 0,
        column: 0,
        message: format!("unexpected structure: {e}"),
    })?;
    let version = raw.version.ok_or(StateError::NotState {
        file: file.to_string(),
        missing: "version",
    })?;
    if version != 4 {
        return Err(StateError::Version {
            file: file.to_string(),
            version,
        });
    }
    let resources = raw.resources.ok_or(StateError::NotState {
        file: file.to_string(),
        missing: "resources",
    })?;
    let file_arc: Arc<str> = Arc::from(file);
    let mut out = Vec::new();
    for r in resources {
        if r.mode.as_deref() == Some("data") {
            continue;
        }
        let provider = r
            .provider
            .as_deref()
            .map_or_else(|| provider_from_type(&r.rtype), provider_short);
        let base = match &r.module {
            Some(m) if !m.is_empty() => format!("{m}.{}.{}", r.rtype, r.name),
            _ => format!("{}.{}", r.rtype, r.name),
        };
        for inst in r.instances {
            if inst.deposed.is_some() {
                continue;
            }
            let attributes = match (inst.attributes, inst.attributes_flat) {
                (Some(a), _) => a,
                (None, Some(flat)) => Value::Object(flat),
                (None, None) => Value::Object(serde_json::Map::new()),
            };
            let id = match attributes.get("id") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            out.push(Resource {
                address: format!("{base}{}", index_suffix(inst.index_key.as_ref())),
                rtype: r.rtype.clone(),
                provider: provider.clone(),
                id,
                attributes,
                sensitive_paths: sensitive_paths(inst.sensitive_attributes.as_ref()),
                dependencies: inst.dependencies.unwrap_or_default(),
                state_file: file_arc.clone(),
                tainted: inst.status.as_deref() == Some("tainted"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names() {
        assert_eq!(
            provider_short("provider[\"registry.terraform.io/hashicorp/aws\"]"),
            "aws"
        );
        assert_eq!(
            provider_short("provider[\"registry.terraform.io/hashicorp/google\"].west"),
            "google"
        );
        assert_eq!(provider_short("provider.aws"), "aws");
        assert_eq!(provider_short("module.x.provider.aws.west"), "aws");
    }

    #[test]
    fn addresses_modules_and_keys() {
        let state = br#"{"version":4,"resources":[
          {"module":"module.net","mode":"managed","type":"aws_subnet","name":"private","provider":"provider[\"registry.terraform.io/hashicorp/aws\"]",
           "instances":[{"index_key":1,"attributes":{"id":"subnet-1"},"sensitive_attributes":[[{"type":"get_attr","value":"secret"}]]}]},
          {"mode":"managed","type":"aws_s3_bucket","name":"b","provider":"provider[\"registry.terraform.io/hashicorp/aws\"]",
           "instances":[{"index_key":"logs","attributes":{"id":"logs-bucket"}},{"index_key":"old","deposed":"abcd1234","attributes":{"id":"x"}}]},
          {"mode":"data","type":"aws_ami","name":"a","instances":[{"attributes":{"id":"ami-1"}}]}
        ],"future_field":true}"#;
        let res = parse_state("t.tfstate", state).unwrap();
        let addrs: Vec<_> = res.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addrs,
            [
                "module.net.aws_subnet.private[1]",
                "aws_s3_bucket.b[\"logs\"]"
            ]
        );
        assert_eq!(res[0].sensitive_paths, ["secret"]);
    }

    #[test]
    fn rejects_old_truncated_and_encrypted() {
        assert!(matches!(
            parse_state("a", br#"{"version":3,"modules":[]}"#),
            Err(StateError::Version { version: 3, .. })
        ));
        assert!(matches!(
            parse_state("a", br#"{"version":4,"resources":[{"type""#),
            Err(StateError::Json { .. })
        ));
        let err = parse_state("a", br#"{"serial":1,"encrypted_data":"xx"}"#).unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");
    }
}
