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

/// The state format version this build reads.
pub const SUPPORTED_VERSION: u64 = 4;

/// Why a state file could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file (or embedded asset) does not exist.
    #[error(
        "state '{file}' not found (check the path; remote states are named s3://BUCKET/KEY or gs://BUCKET/KEY)"
    )]
    NotFound {
        /// State file.
        file: String,
    },
    /// The file exists but this user may not read it.
    #[error(
        "state '{file}' cannot be read: permission denied (check its permissions and the user tfdrift runs as)"
    )]
    PermissionDenied {
        /// State file.
        file: String,
    },
    /// Any other read failure (a directory that cannot be listed, an I/O error).
    #[error("state '{file}' cannot be read: {message}")]
    Io {
        /// State file or directory.
        file: String,
        /// What the operating system said.
        message: String,
    },
    /// Zero bytes (or only whitespace).
    #[error("state '{file}' is empty (an interrupted write? try `terraform state pull > FILE`)")]
    Empty {
        /// State file.
        file: String,
    },
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
    /// Valid JSON whose structure is not a state's: names the key and what it holds.
    #[error(
        "state '{file}' is valid JSON but not a Terraform state: `{at}` should be {expected}, found {found}"
    )]
    Shape {
        /// State file.
        file: String,
        /// Where, as a JSON path (`resources[3].instances[0].attributes_flat`).
        at: String,
        /// What a state has there.
        expected: &'static str,
        /// What the file has there.
        found: &'static str,
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
    /// A format older than v4 (Terraform before 0.12).
    #[error(
        "state '{file}' has format version {version} (Terraform before 0.12); tfdrift reads format version 4 only (Terraform 0.12 and later, OpenTofu): rewrite it with `terraform state pull` from Terraform 0.12 or later"
    )]
    OldVersion {
        /// State file.
        file: String,
        /// Version found.
        version: u64,
    },
    /// A format newer than this build knows.
    #[error(
        "state '{file}' has format version {version}, which this tfdrift does not read; supported: format version 4 (Terraform 0.12 to 1.x, OpenTofu 1.x). A newer tfdrift release may read it"
    )]
    Version {
        /// State file.
        file: String,
        /// Version found.
        version: u64,
    },
}

impl StateError {
    /// The error for a failed read of `file`, by the kind of failure.
    #[must_use]
    pub fn io(file: &str, e: &std::io::Error) -> StateError {
        let file = file.to_string();
        if is_symlink_loop(e) {
            return StateError::Io {
                file,
                message: "symlink loop (the link leads back to itself; point it at the state file)"
                    .into(),
            };
        }
        match e.kind() {
            std::io::ErrorKind::NotFound => StateError::NotFound { file },
            std::io::ErrorKind::PermissionDenied => StateError::PermissionDenied { file },
            _ => StateError::Io {
                file,
                message: e.to_string(),
            },
        }
    }
}

/// Whether `e` is "too many levels of symbolic links" (a link that leads back to itself), which
/// the standard library has no stable error kind for.
#[must_use]
pub fn is_symlink_loop(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    const ELOOP: i32 = 40;
    #[cfg(not(target_os = "linux"))]
    const ELOOP: i32 = 62;
    e.raw_os_error() == Some(ELOOP)
}

/// JSON type name, for shape errors.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks the parts of the structure the index relies on, naming the first wrong key: what
/// serde's derive would reject with a message that names no key.
fn check_shape(v: &Value) -> Result<(), (String, &'static str, &'static str)> {
    fn want(
        at: &str,
        v: Option<&Value>,
        ok: fn(&Value) -> bool,
        expected: &'static str,
    ) -> Result<(), (String, &'static str, &'static str)> {
        match v {
            Some(x) if !ok(x) => Err((at.to_string(), expected, type_name(x))),
            _ => Ok(()),
        }
    }
    let str_or_null = |x: &Value| x.is_string() || x.is_null();
    let list_or_null = |x: &Value| x.is_array() || x.is_null();
    let Value::Object(root) = v else {
        return Err(("(top level)".into(), "an object", type_name(v)));
    };
    want(
        "version",
        root.get("version"),
        |x| x.is_u64() || x.is_null(),
        "a whole number",
    )?;
    want("resources", root.get("resources"), list_or_null, "a list")?;
    let Some(Value::Array(resources)) = root.get("resources") else {
        return Ok(());
    };
    for (i, r) in resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        let Value::Object(r) = r else {
            return Err((at, "an object", type_name(r)));
        };
        for key in ["type", "name"] {
            match r.get(key) {
                None => return Err((format!("{at}.{key}"), "a string", "nothing")),
                Some(x) => want(
                    &format!("{at}.{key}"),
                    Some(x),
                    Value::is_string,
                    "a string",
                )?,
            }
        }
        for key in ["module", "mode", "provider"] {
            want(&format!("{at}.{key}"), r.get(key), str_or_null, "a string")?;
        }
        want(
            &format!("{at}.instances"),
            r.get("instances"),
            Value::is_array,
            "a list",
        )?;
        let Some(Value::Array(instances)) = r.get("instances") else {
            continue;
        };
        for (j, inst) in instances.iter().enumerate() {
            let at = format!("{at}.instances[{j}]");
            let Value::Object(inst) = inst else {
                return Err((at, "an object", type_name(inst)));
            };
            for key in ["status", "deposed"] {
                want(
                    &format!("{at}.{key}"),
                    inst.get(key),
                    str_or_null,
                    "a string",
                )?;
            }
            want(
                &format!("{at}.attributes_flat"),
                inst.get("attributes_flat"),
                |x| x.is_object() || x.is_null(),
                "an object",
            )?;
            want(
                &format!("{at}.dependencies"),
                inst.get("dependencies"),
                list_or_null,
                "a list",
            )?;
            if let Some(Value::Array(deps)) = inst.get("dependencies") {
                for (k, d) in deps.iter().enumerate() {
                    want(
                        &format!("{at}.dependencies[{k}]"),
                        Some(d),
                        Value::is_string,
                        "a string",
                    )?;
                }
            }
        }
    }
    Ok(())
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
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StateError::Empty {
            file: file.to_string(),
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| StateError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let shape = |(at, expected, found): (String, &'static str, &'static str)| StateError::Shape {
        file: file.to_string(),
        at,
        expected,
        found,
    };
    check_shape(&value).map_err(shape)?;
    // The shape was checked above; a failure here means the check missed a case.
    let raw: RawState = serde_json::from_value(value).map_err(|_| {
        shape((
            "(structure)".to_string(),
            "a Terraform state",
            "something else",
        ))
    })?;
    let version = raw.version.ok_or(StateError::NotState {
        file: file.to_string(),
        missing: "version",
    })?;
    if version < SUPPORTED_VERSION {
        return Err(StateError::OldVersion {
            file: file.to_string(),
            version,
        });
    }
    if version != SUPPORTED_VERSION {
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
            Err(StateError::OldVersion { version: 3, .. })
        ));
        assert!(matches!(
            parse_state("a", br#"{"version":4,"resources":[{"type""#),
            Err(StateError::Json { .. })
        ));
        let err = parse_state("a", br#"{"serial":1,"encrypted_data":"xx"}"#).unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");
    }

    /// Each failure names the real problem: the wrong key and what it holds, the versions
    /// supported, an empty file.
    #[test]
    fn errors_name_the_problem() {
        let msg = |bytes: &[u8]| parse_state("s.tfstate", bytes).unwrap_err().to_string();
        for (bytes, want, not) in [
            (
                &br#"{"version":4,"resources":{"a":1}}"#[..],
                "`resources` should be a list, found an object",
                "not valid JSON",
            ),
            (
                br#"{"version":4,"resources":[{"type":"aws_vpc","name":"v","instances":[{"attributes":{},"dependencies":[1]}]}]}"#,
                "`resources[0].instances[0].dependencies[0]` should be a string, found a number",
                "not valid JSON",
            ),
            (
                br#"{"version":4,"resources":[{"name":"v"}]}"#,
                "`resources[0].type` should be a string, found nothing",
                "not valid JSON",
            ),
            (br#"{"version":"4","resources":[]}"#, "`version` should be a whole number, found a string", "not valid JSON"),
            (br"[1,2]", "`(top level)` should be an object, found a list", "not valid JSON"),
            (
                br#"{"version":5,"resources":[]}"#,
                "supported: format version 4 (Terraform 0.12 to 1.x, OpenTofu 1.x)",
                "upgrade",
            ),
            (b"  \n", "is empty", "not valid JSON"),
        ] {
            let m = msg(bytes);
            assert!(m.contains(want), "{m}");
            assert!(!m.contains(not), "{m}");
        }
        assert!(msg(br#"{"version":3}"#).contains("reads format version 4 only"));
    }

    #[test]
    fn read_failures_say_what_they_are() {
        let e = |kind| StateError::io("s.tfstate", &std::io::Error::from(kind)).to_string();
        assert!(e(std::io::ErrorKind::NotFound).contains("'s.tfstate' not found"));
        assert!(e(std::io::ErrorKind::PermissionDenied).contains("permission denied"));
        #[cfg(target_os = "linux")]
        assert!(
            StateError::io("s.tfstate", &std::io::Error::from_raw_os_error(40))
                .to_string()
                .contains("symlink loop")
        );
    }
}
