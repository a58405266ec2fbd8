//! Masking secrets before anything leaves the pipeline.
//!
//! Three sources of "sensitive": paths the state marks sensitive, attributes the catalog marks
//! sensitive (Lambda environment values), and anything that looks like a credential wherever it
//! appears (AWS access keys, private keys, values under keys named like `password` or `token`).
//! Masked values keep their structure (map keys stay visible) so the diff still says *what*
//! changed without saying *to what*.

use serde_json::Value;

/// The text that replaces a masked value.
pub const MASK: &str = "(sensitive)";

/// Key names whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "secret_key",
    "secretaccesskey",
    "secret_access_key",
    "token",
    "session_token",
    "sessiontoken",
    "private_key",
    "privatekey",
    "api_key",
    "apikey",
    "client_secret",
    "master_password",
    "masteruserpassword",
    "auth_token",
    "credentials",
    "secret_string",
    "secretstring",
    "sensitive_content",
];

/// Whether a key name denotes a secret (case- and separator-insensitive).
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase();
    SECRET_KEYS
        .iter()
        .any(|s| k == *s || k.ends_with(&format!("_{s}")))
}

/// Whether a string value looks like a credential on its own.
#[must_use]
pub fn looks_like_credential(s: &str) -> bool {
    if s.contains("PRIVATE KEY-----") {
        return true;
    }
    // AWS access key ids: AKIA/ASIA + 16 upper-case alphanumerics.
    let b = s.as_bytes();
    b.windows(20).any(|w| {
        (w.starts_with(b"AKIA") || w.starts_with(b"ASIA"))
            && w[4..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    }) || s.starts_with("ghp_")
        || s.starts_with("xoxb-")
        || s.starts_with("xoxp-")
        || s.starts_with("sk_live_")
}

/// Replaces every leaf of `v` with [`MASK`], keeping object keys and array lengths.
#[must_use]
pub fn mask_leaves(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), mask_leaves(x))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(mask_leaves).collect()),
        Value::Null => Value::Null,
        _ => Value::String(MASK.into()),
    }
}

/// Masks credential-looking values and values under secret-named keys, anywhere in `v`.
pub fn mask_credentials(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if is_secret_key(k) && !x.is_null() {
                    *x = mask_leaves(x);
                } else {
                    mask_credentials(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask_credentials),
        Value::String(s) if looks_like_credential(s) => *s = MASK.into(),
        _ => {}
    }
}

/// Whether diff `path` touches a sensitive path: equal, below (`password` covers
/// `password.x`) or above it (`environment` contains the sensitive `environment.0.variables`).
#[must_use]
pub fn path_is_sensitive(path: &str, sensitive: &[String]) -> bool {
    sensitive.iter().any(|s| {
        path == s
            || path
                .strip_prefix(s.as_str())
                .is_some_and(|r| r.starts_with('.'))
            || s.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
    }) || path.split('.').any(is_secret_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_masked_anywhere() {
        let mut v = json!({"a": "AKIAIOSFODNN7EXAMPLE", "nested": {"db_password": "hunter2", "ok": "fine"},
            "list": ["-----BEGIN RSA PRIVATE KEY-----\nabc"]});
        mask_credentials(&mut v);
        assert_eq!(v["a"], MASK);
        assert_eq!(v["nested"]["db_password"], MASK);
        assert_eq!(v["nested"]["ok"], "fine");
        assert_eq!(v["list"][0], MASK);
    }

    #[test]
    fn sensitive_paths_cover_parents_and_children() {
        let s = vec!["environment.0.variables".to_string()];
        assert!(path_is_sensitive("environment", &s));
        assert!(path_is_sensitive("environment.0.variables.KEY", &s));
        assert!(!path_is_sensitive("memory_size", &s));
        assert!(path_is_sensitive("master_password", &[]));
    }

    #[test]
    fn masking_keeps_keys() {
        assert_eq!(
            mask_leaves(&json!({"A": "1", "B": "2"})),
            json!({"A": MASK, "B": MASK})
        );
    }
}
