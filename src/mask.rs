//! Masking secrets before anything leaves the pipeline.
//!
//! Sources of "sensitive": paths the state marks sensitive (`sensitive_attributes`), attributes
//! the catalog marks sensitive (Lambda environment values), values under keys named like
//! `password` or `token` (also tag keys), and anything that looks like a credential wherever it
//! appears inside a string ([`detect`]). Masked values keep their structure (map keys stay
//! visible) so the diff still says *what* changed without saying *to what*.
//!
//! [`mask_alert`] is the one pass over a whole alert — diffs, tags, enrichment, remediation,
//! runbook, actor, event — that the engine runs before an alert leaves it; everything else
//! (stdout, the store, every notification channel, the terminal UI) renders from the masked
//! alert. A value known to be secret (the state's sensitive values, the masked diff values, a
//! masked tag) is also removed wherever else it shows up in the alert: a rule template that
//! quoted it, a tag copied into `owner`.

pub mod detect;

use std::cell::Cell;

use serde_json::Value;

use crate::alert::{Alert, Diff};
pub use detect::{looks_like_credential, mask_text};

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
    "routing_key",
    "integration_key",
    "private_key_id",
    "access_token",
    "refresh_token",
    "account_key",
    "accountkey",
    "passphrase",
];

/// Whether a key name denotes a secret (case- and separator-insensitive): one of
/// [`SECRET_KEYS`], or ends with `_` and one of them (`db_password`). Runs on every key of every
/// diff value, so it does not allocate for names up to 64 characters.
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    let mut buf = [0u8; 64];
    let mut n = 0;
    for c in key.bytes() {
        if c.is_ascii_alphanumeric() || c == b'_' {
            let Some(slot) = buf.get_mut(n) else {
                return is_secret_key_long(key);
            };
            *slot = c.to_ascii_lowercase();
            n += 1;
        }
    }
    normalised_is_secret(&buf[..n])
}

fn is_secret_key_long(key: &str) -> bool {
    let k: Vec<u8> = key
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    normalised_is_secret(&k)
}

fn normalised_is_secret(k: &[u8]) -> bool {
    SECRET_KEYS.iter().any(|s| {
        k.strip_suffix(s.as_bytes())
            .is_some_and(|rest| rest.is_empty() || rest.ends_with(b"_"))
    })
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
    mask_credentials_near(v, false);
}

/// [`mask_credentials`]; `key_id_nearby`: a 40-character base64 value is an AWS secret key
/// because an access key id sits beside it (same object, or anywhere in the alert).
fn mask_credentials_near(v: &mut Value, key_id_nearby: bool) {
    match v {
        Value::Object(o) => {
            let near = key_id_nearby
                || o.values()
                    .any(|x| x.as_str().is_some_and(detect::has_key_id));
            for (k, x) in o.iter_mut() {
                if is_secret_key(k) && !x.is_null() {
                    *x = mask_leaves(x);
                } else {
                    mask_credentials_near(x, near);
                }
            }
        }
        Value::Array(a) => {
            let near =
                key_id_nearby || a.iter().any(|x| x.as_str().is_some_and(detect::has_key_id));
            for x in a {
                mask_credentials_near(x, near);
            }
        }
        Value::String(s) => {
            if let Some(m) = mask_text(s, key_id_nearby) {
                *s = m;
            }
        }
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

/// Tag-holding state attributes: a sensitive `tags_all.Token` masks the `Token` tag.
const TAG_ATTRS: &[&str] = &[
    "tags",
    "tags_all",
    "labels",
    "effective_labels",
    "terraform_labels",
];

/// Known secret values shorter than this are masked where they are known to be (their diff,
/// their tag, a string equal to them) but not searched for inside longer text, where a short
/// value would mask unrelated words.
const MIN_LITERAL: usize = 6;

/// What is known to be sensitive about an alert's resource besides what looks like a credential.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sensitive<'a> {
    /// Dotted attribute paths the state marks sensitive for this resource.
    pub state_paths: &'a [String],
    /// Diff paths sensitive whatever the state says (the catalog's `sensitive: true`).
    pub diff_paths: &'a [String],
    /// The resource's state attributes: the values at `state_paths` are secrets wherever they
    /// appear in the alert.
    pub state_attrs: Option<&'a Value>,
}

/// Secret values met while masking, removed from every other string of the alert.
#[derive(Default)]
struct Known {
    /// Longest first, so a secret containing a shorter one is removed whole.
    values: Vec<String>,
}

impl Known {
    fn add(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.add_str(s),
            Value::Number(n) => self.add_str(&n.to_string()),
            Value::Array(a) => a.iter().for_each(|x| self.add(x)),
            Value::Object(o) => o.values().for_each(|x| self.add(x)),
            _ => {}
        }
    }

    fn add_str(&mut self, s: &str) {
        if !s.is_empty() && s != MASK && !self.values.iter().any(|k| k == s) {
            self.values.push(s.to_string());
        }
    }

    /// Masks `s` when it is a known value or holds one.
    fn scrub(&self, s: &mut String) {
        for k in &self.values {
            if s == k {
                MASK.clone_into(s);
                return;
            }
            if k.chars().count() >= MIN_LITERAL && s.contains(k.as_str()) {
                *s = s.replace(k.as_str(), MASK);
            }
        }
    }
}

/// The value at a dotted state path (`environment.0.variables`).
fn at_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, seg| match cur {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Whether the tag or label `key` is sensitive in the state (under any tag attribute).
fn tag_is_sensitive(key: &str, state_paths: &[String]) -> bool {
    is_secret_key(key)
        || (!state_paths.is_empty()
            && TAG_ATTRS
                .iter()
                .any(|a| path_is_sensitive(&format!("{a}.{key}"), state_paths)))
}

/// Masks tags read straight from a state (a view showing a resource's tags without an alert):
/// sensitive in the state, under a secret-like key, or credential-looking.
pub fn mask_state_tags(tags: &mut [(String, String)], state_paths: &[String]) {
    for (k, v) in tags {
        if tag_is_sensitive(k, state_paths) {
            MASK.clone_into(v);
        } else if let Some(m) = mask_text(v, false) {
            *v = m;
        }
    }
}

/// A sensitive value masked whole: scalars become [`MASK`], containers keep their shape.
fn mask_whole(v: &Value) -> Value {
    match v {
        Value::Object(_) | Value::Array(_) => mask_leaves(v),
        Value::Null => Value::Null,
        _ => Value::String(MASK.into()),
    }
}

fn mask_diff(d: &mut Diff, s: &Sensitive<'_>, known: &mut Known) {
    let tag_key = TAG_ATTRS
        .iter()
        .find_map(|a| d.path.strip_prefix(a)?.strip_prefix('.'));
    let sensitive = path_is_sensitive(&d.path, s.state_paths)
        || s.diff_paths.contains(&d.path)
        || tag_key.is_some_and(|k| tag_is_sensitive(k, s.state_paths));
    if sensitive {
        known.add(&d.state);
        known.add(&d.observed);
        d.state = mask_whole(&d.state);
        d.observed = mask_whole(&d.observed);
    } else {
        // Strings are scanned for credentials with the rest of the alert.
        mask_secret_keys(&mut d.state);
        mask_secret_keys(&mut d.observed);
    }
}

/// Masks the values under secret-named keys anywhere in `v`.
fn mask_secret_keys(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if is_secret_key(k) && !x.is_null() {
                    *x = mask_leaves(x);
                } else {
                    mask_secret_keys(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask_secret_keys),
        _ => {}
    }
}

/// Masks secrets in the whole alert, in place: the one pass every alert takes before it leaves
/// the engine (and before rules render templates from it, so `{diff.observed}` is masked too).
/// Idempotent: masking a masked alert changes nothing.
pub fn mask_alert(alert: &mut Alert, s: &Sensitive<'_>) {
    let mut known = Known::default();
    if let Some(attrs) = s.state_attrs {
        for p in s.state_paths {
            if let Some(v) = at_path(attrs, p) {
                known.add(v);
            }
        }
    }
    for d in &mut alert.diffs {
        mask_diff(d, s, &mut known);
    }
    for (k, v) in &mut alert.enrichment.tags {
        if v.as_str() != MASK && tag_is_sensitive(k, s.state_paths) {
            known.add_str(v);
            MASK.clone_into(v);
        }
    }
    known.values.sort_by_key(|k| std::cmp::Reverse(k.len()));
    let key_id = Cell::new(false);
    let pending = Cell::new(false);
    let pass = |t: &mut String, nearby: bool| {
        known.scrub(t);
        let found = detect::scan(t, nearby);
        key_id.set(key_id.get() || found.key_id);
        pending.set(pending.get() || found.pending_secret_key);
        if let Some(m) = found.masked {
            *t = m;
        }
    };
    for_each_text(alert, &mut |t| pass(t, false));
    if key_id.get() && pending.get() {
        // An access key id somewhere in the alert: a 40-character base64 value elsewhere in it
        // is its secret key.
        for_each_text(alert, &mut |t| pass(t, true));
    }
}

/// Calls `f` on every free-text string of the alert (everything but the schema, the alert's own
/// id, times and enums), tag keys included.
fn for_each_text(a: &mut Alert, f: &mut dyn FnMut(&mut String)) {
    fn opt(o: &mut Option<String>, f: &mut dyn FnMut(&mut String)) {
        if let Some(s) = o {
            f(s);
        }
    }
    fn value(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
        match v {
            Value::String(s) => f(s),
            Value::Array(a) => a.iter_mut().for_each(|x| value(x, f)),
            Value::Object(o) => o.values_mut().for_each(|x| value(x, f)),
            _ => {}
        }
    }
    f(&mut a.provider);
    f(&mut a.resource.rtype);
    f(&mut a.resource.id);
    opt(&mut a.resource.address, f);
    for d in &mut a.diffs {
        f(&mut d.path);
        value(&mut d.state, f);
        value(&mut d.observed, f);
    }
    let ev = &mut a.event;
    for s in [&mut ev.id, &mut ev.name, &mut ev.service] {
        f(s);
    }
    opt(&mut ev.region, f);
    opt(&mut ev.account, f);
    let ac = &mut a.actor;
    for o in [
        &mut ac.identity_type,
        &mut ac.principal,
        &mut ac.arn,
        &mut ac.email,
        &mut ac.session,
        &mut ac.user_agent,
        &mut ac.source_ip,
    ] {
        opt(o, f);
    }
    a.rules.iter_mut().for_each(&mut *f);
    a.remediation.iter_mut().for_each(&mut *f);
    opt(&mut a.runbook, f);
    let e = &mut a.enrichment;
    let id = &mut e.identity;
    f(&mut id.kind);
    f(&mut id.display);
    f(&mut id.source_kind);
    for o in [
        &mut id.human,
        &mut id.role,
        &mut id.account,
        &mut id.invoked_by,
        &mut id.tool,
        &mut id.sdk_language,
        &mut id.source_ip,
    ] {
        opt(o, f);
    }
    id.delegation.iter_mut().for_each(&mut *f);
    for o in [
        &mut e.owner,
        &mut e.team,
        &mut e.environment,
        &mut e.cost_center,
    ] {
        opt(o, f);
    }
    e.tags.values_mut().for_each(&mut *f);
    // Tag keys are map keys: rebuild the map only when one changes.
    let mut renamed = Vec::new();
    for k in e.tags.keys() {
        let mut nk = k.clone();
        f(&mut nk);
        if nk != *k {
            renamed.push((k.clone(), nk));
        }
    }
    for (old, new) in renamed {
        if let Some(v) = e.tags.remove(&old) {
            e.tags.insert(new, v);
        }
    }
    let h = &mut e.history;
    for item in h.recent.iter_mut().chain(h.actor_recent.iter_mut()) {
        for s in [
            &mut item.resource,
            &mut item.kind,
            &mut item.event_name,
            &mut item.alert_id,
        ] {
            f(s);
        }
        opt(&mut item.address, f);
        opt(&mut item.actor, f);
    }
    e.blast_radius.dependents.iter_mut().for_each(&mut *f);
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

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----";

    fn alert() -> Alert {
        let mut a = crate::notify::sample_alert();
        a.diffs.clear();
        a
    }

    fn json_of(a: &Alert) -> String {
        serde_json::to_string(a).unwrap()
    }

    #[test]
    fn enrichment_tags_are_masked_like_diffs() {
        let state = json!({"tags": {"Name": "web", "DeployKey": "tag-secret-value-1"},
                           "tags_all": {"Name": "web", "DeployKey": "tag-secret-value-1"}});
        let paths = vec![
            "tags.DeployKey".to_string(),
            "tags_all.DeployKey".to_string(),
        ];
        let mut a = alert();
        let t = &mut a.enrichment.tags;
        t.insert("Name".into(), "web".into());
        t.insert("DeployKey".into(), "tag-secret-value-1".into());
        t.insert("Cert".into(), PEM.into());
        t.insert("CiCreds".into(), format!("{AKID} rotated"));
        t.insert("Backup".into(), format!("key {SECRET_KEY}"));
        t.insert("api_token".into(), "short".into());
        t.insert(
            "Note".into(),
            "token ghp_1A2b3C4d5E6f7G8h9I0j1K2l3M4n5O6p7Q8r here".into(),
        );
        a.enrichment.owner = Some("tag-secret-value-1".into());
        a.diffs.push(Diff {
            path: "tags.DeployKey".into(),
            state: json!("tag-secret-value-1"),
            observed: json!("tag-secret-value-2"),
        });
        mask_alert(
            &mut a,
            &Sensitive {
                state_paths: &paths,
                diff_paths: &[],
                state_attrs: Some(&state),
            },
        );
        let out = json_of(&a);
        for secret in [
            "tag-secret-value-1",
            "tag-secret-value-2",
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo",
            AKID,
            SECRET_KEY,
            "short",
            "ghp_1A2b",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert_eq!(a.enrichment.tags["Name"], "web");
        assert_eq!(a.enrichment.tags["DeployKey"], MASK);
        assert_eq!(a.enrichment.tags["Note"], format!("token {MASK} here"));
        assert_eq!(a.enrichment.owner.as_deref(), Some(MASK));
    }

    #[test]
    fn a_state_secret_is_removed_wherever_it_was_copied() {
        let state = json!({"password": "correct-horse-battery", "name": "db"});
        let paths = vec!["password".to_string()];
        let mut a = alert();
        a.diffs.push(Diff {
            path: "password".into(),
            state: json!("correct-horse-battery"),
            observed: json!("new-horse-battery"),
        });
        // A rule template that quoted the value, and a runbook too.
        a.remediation = vec!["echo correct-horse-battery | rotate".into()];
        a.runbook = Some("was new-horse-battery".into());
        mask_alert(
            &mut a,
            &Sensitive {
                state_paths: &paths,
                diff_paths: &[],
                state_attrs: Some(&state),
            },
        );
        let out = json_of(&a);
        assert!(!out.contains("horse-battery"), "{out}");
        assert_eq!(a.remediation[0], format!("echo {MASK} | rotate"));
        assert_eq!(a.diffs[0].observed, json!(MASK));
        // Idempotent.
        let before = a.clone();
        mask_alert(&mut a, &Sensitive::default());
        assert_eq!(a, before);
    }

    /// Every text field of the alert is visited: an alert whose every string is a planted
    /// token comes out with the token only in the schema and its own id.
    #[test]
    fn the_pass_reaches_every_text_field() {
        const T: &str = "ghp_1A2b3C4d5E6f7G8h9I0j1K2l3M4n5O6p7Q8r";
        let item = json!({"time": "2026-01-01T00:00:00Z", "resource": T, "address": T, "actor": T,
            "kind": T, "event_name": T, "alert_id": T});
        let v = json!({
            "schema": "tfdrift.alert/v1", "id": "tfd-1", "time": "2026-01-01T00:00:00Z",
            "kind": "attribute_drift", "severity": "high", "provider": T,
            "resource": {"type": T, "id": T, "address": T, "managed": true},
            "diffs": [{"path": T, "state": {"a": [T]}, "observed": T}],
            "event": {"id": T, "name": T, "service": T, "time": null, "region": T, "account": T},
            "actor": {"type": T, "principal": T, "arn": T, "email": T, "session": T,
                      "user_agent": T, "source_ip": T, "via": "cli"},
            "rules": [T], "remediation": [T], "runbook": T,
            "enrichment": {
                "identity": {"kind": T, "human": T, "display": T, "role": T, "account": T,
                    "invoked_by": T, "delegation": [T], "via": "cli", "tool": T,
                    "sdk_language": T, "source_ip": T, "source_kind": T, "mfa": true},
                "owner": T, "team": T, "environment": T, "cost_center": T,
                "tags": {T: T},
                "history": {"days": [0, 0, 0, 0, 0, 0, 1], "recent": [item.clone()],
                            "actor_recent": [item]},
                "blast_radius": {"count": 1, "max_depth": 1, "dependents": [T]}
            }
        });
        let mut a: Alert = serde_json::from_value(v).unwrap();
        let planted = json_of(&a).matches(T).count();
        assert!(planted >= 45, "every field populated ({planted})");
        mask_alert(&mut a, &Sensitive::default());
        let out = json_of(&a);
        assert!(!out.contains(T), "{out}");
    }
}
