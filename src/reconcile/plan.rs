//! Terraform's machine-readable output, read without trusting it: the `plan -json` UI stream
//! (`resource_drift`, `planned_change`, `diagnostic`) and the `show -json` plan document
//! (`resource_drift`, `resource_changes`, `relevant_attributes`). Lines or entries that are
//! not what Terraform documents are counted and skipped, never fatal.
//!
//! [`attribute_diffs`] turns one resource change into attribute paths at the granularity event
//! detection uses (a top-level attribute, tag maps per key, one-element blocks descended:
//! `versioning.0.enabled`), so a reconciled drift has the drift key its event would have had.

use serde_json::{Map, Value};

use crate::alert::Diff;
use crate::compare::{equivalent, is_empty};

/// What the `plan -json` stream said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// `resource_drift` messages: (address, action).
    pub drift: Vec<(String, String)>,
    /// `planned_change` messages: (address, action).
    pub planned: Vec<(String, String)>,
    /// `diagnostic` errors: summary and detail, one line each.
    pub errors: Vec<String>,
    /// Diagnostic warnings.
    pub warnings: Vec<String>,
    /// Lines that are not JSON objects with a `type` (counted, skipped).
    pub unreadable: usize,
    /// A `change_summary` was seen: the plan ran to the end.
    pub completed: bool,
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads the `terraform plan -json` UI stream (one JSON object a line).
#[must_use]
pub fn parse_stream(text: &str) -> StreamReport {
    let mut r = StreamReport::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) else {
            r.unreadable += 1;
            continue;
        };
        let Some(kind) = m.get("type").and_then(Value::as_str) else {
            r.unreadable += 1;
            continue;
        };
        match kind {
            "resource_drift" | "planned_change" => {
                let change = m.get("change");
                let addr = change
                    .and_then(|c| c.pointer("/resource/addr"))
                    .and_then(Value::as_str);
                let action = change
                    .and_then(|c| c.get("action"))
                    .and_then(Value::as_str)
                    .unwrap_or("update");
                let Some(addr) = addr else {
                    r.unreadable += 1;
                    continue;
                };
                let entry = (addr.to_string(), action.to_string());
                if kind == "resource_drift" {
                    r.drift.push(entry);
                } else {
                    r.planned.push(entry);
                }
            }
            "diagnostic" => {
                let d = m.get("diagnostic");
                let sev = d
                    .and_then(|d| d.get("severity"))
                    .and_then(Value::as_str)
                    .or_else(|| m.get("@level").and_then(Value::as_str))
                    .unwrap_or("error");
                let summary = d
                    .and_then(|d| d.get("summary"))
                    .and_then(Value::as_str)
                    .or_else(|| m.get("@message").and_then(Value::as_str))
                    .unwrap_or("(no summary)");
                let detail = d
                    .and_then(|d| d.get("detail"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let text = if detail.is_empty() {
                    one_line(summary)
                } else {
                    format!("{}: {}", one_line(summary), one_line(detail))
                };
                if sev == "warning" {
                    r.warnings.push(text);
                } else {
                    r.errors.push(text);
                }
            }
            "change_summary" => r.completed = true,
            _ => {}
        }
    }
    r
}

/// One resource's change in a plan document.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    /// Address (`module.net.aws_subnet.a[0]`).
    pub address: String,
    /// Resource type.
    pub rtype: String,
    /// Provider short name (`aws`).
    pub provider: String,
    /// Actions (`["update"]`, `["delete"]`, `["delete", "create"]`, `["no-op"]`).
    pub actions: Vec<String>,
    /// Value before (the refreshed or prior state); `Null` for creates.
    pub before: Value,
    /// Value after; `Null` for deletes.
    pub after: Value,
    /// Dotted paths Terraform marks sensitive on either side.
    pub sensitive: Vec<String>,
}

impl ResourceChange {
    /// Whether the change deletes the resource (and does not re-create it).
    #[must_use]
    pub fn is_delete(&self) -> bool {
        self.actions.iter().any(|a| a == "delete") && !self.actions.iter().any(|a| a == "create")
    }

    /// Whether the change does anything (not `no-op` / `read`).
    #[must_use]
    pub fn is_change(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a.as_str(), "create" | "update" | "delete"))
    }

    /// The cloud id (`id` of either side).
    #[must_use]
    pub fn id(&self) -> String {
        [&self.before, &self.after]
            .iter()
            .find_map(|v| v.get("id").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    }
}

/// What a `terraform show -json PLAN` document holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanDoc {
    /// Changes made outside Terraform, found by the refresh.
    pub drift: Vec<ResourceChange>,
    /// Changes the plan would make.
    pub changes: Vec<ResourceChange>,
    /// `relevant_attributes`: (address, dotted path).
    pub relevant: Vec<(String, String)>,
    /// Every managed address of the prior state (what the plan refreshed).
    pub prior_addresses: Vec<String>,
    /// Entries that are not what Terraform documents (counted, skipped).
    pub unreadable: usize,
}

/// Why a plan document could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Not JSON.
    #[error("not a JSON plan document ({0}): give the output of `terraform show -json PLANFILE`")]
    Json(String),
    /// JSON but no plan.
    #[error(
        "a JSON document without `format_version` and `resource_changes`/`resource_drift`: give the output of `terraform show -json PLANFILE`, not the state or the plan stream"
    )]
    NotAPlan,
}

fn provider_short(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}

fn sensitive_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Bool(true) => out.push(prefix.to_string()),
        Value::Object(m) => {
            for (k, x) in m {
                sensitive_paths(x, &join(prefix, k), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                sensitive_paths(x, &join(prefix, &i.to_string()), out);
            }
        }
        _ => {}
    }
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

fn resource_change(v: &Value) -> Option<ResourceChange> {
    let address = v.get("address")?.as_str()?.to_string();
    if v.get("mode").and_then(Value::as_str) == Some("data") {
        return None;
    }
    let change = v.get("change")?;
    let actions = change
        .get("actions")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let mut sensitive = Vec::new();
    for side in ["before_sensitive", "after_sensitive"] {
        if let Some(s) = change.get(side) {
            sensitive_paths(s, "", &mut sensitive);
        }
    }
    sensitive.sort();
    sensitive.dedup();
    Some(ResourceChange {
        rtype: v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        provider: provider_short(
            v.get("provider_name")
                .and_then(Value::as_str)
                .unwrap_or("aws"),
        ),
        address,
        actions,
        before: change.get("before").cloned().unwrap_or(Value::Null),
        after: change.get("after").cloned().unwrap_or(Value::Null),
        sensitive,
    })
}

fn changes(doc: &Map<String, Value>, key: &str, unreadable: &mut usize) -> Vec<ResourceChange> {
    let Some(list) = doc.get(key).and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|v| {
            let rc = resource_change(v);
            if rc.is_none() && v.get("mode").and_then(Value::as_str) != Some("data") {
                *unreadable += 1;
            }
            rc
        })
        .collect()
}

/// A `relevant_attributes` path (`["tags", "Env"]`, `["ingress", 0]`) as a dotted path.
fn dotted(parts: &[Value]) -> Option<String> {
    let parts: Vec<String> = parts
        .iter()
        .map(|p| match p {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(parts.join("."))
}

fn module_addresses(module: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    for r in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if r.get("mode").and_then(Value::as_str) != Some("data")
            && let Some(a) = r.get("address").and_then(Value::as_str)
        {
            out.push(a.to_string());
        }
    }
    for child in module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        module_addresses(child, out, depth + 1);
    }
}

/// Reads a `terraform show -json PLANFILE` document.
pub fn parse_plan(bytes: &[u8]) -> Result<PlanDoc, PlanError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| PlanError::Json(e.to_string()))?;
    let Value::Object(doc) = v else {
        return Err(PlanError::NotAPlan);
    };
    let looks_like_plan = doc.contains_key("format_version")
        && (doc.contains_key("resource_changes")
            || doc.contains_key("resource_drift")
            || doc.contains_key("planned_values"));
    if !looks_like_plan {
        return Err(PlanError::NotAPlan);
    }
    let mut out = PlanDoc::default();
    out.drift = changes(&doc, "resource_drift", &mut out.unreadable);
    out.changes = changes(&doc, "resource_changes", &mut out.unreadable);
    for r in doc
        .get("relevant_attributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let res = r.get("resource").and_then(Value::as_str);
        let path = r
            .get("attribute")
            .and_then(Value::as_array)
            .and_then(|a| dotted(a));
        match (res, path) {
            (Some(res), Some(path)) => out.relevant.push((res.to_string(), path)),
            _ => out.unreadable += 1,
        }
    }
    if let Some(root) = doc
        .get("prior_state")
        .and_then(|p| p.pointer("/values/root_module"))
    {
        module_addresses(root, &mut out.prior_addresses, 0);
    }
    Ok(out)
}

/// Whether `prefix` equals `path` or is a whole-segment prefix of it.
#[must_use]
pub fn covers(prefix: &str, path: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// Whether two attribute paths overlap (one covers the other).
#[must_use]
pub fn overlaps(a: &str, b: &str) -> bool {
    covers(a, b) || covers(b, a)
}

fn is_flat_map(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.values().all(|x| !x.is_object() && !x.is_array()))
}

fn one_block(v: &Value) -> Option<&Map<String, Value>> {
    match v.as_array().map(Vec::as_slice) {
        Some([Value::Object(m)]) => Some(m),
        _ => None,
    }
}

fn diff_at(path: &str, before: &Value, after: &Value, out: &mut Vec<Diff>, depth: usize) {
    if equivalent(before, after) || (is_empty(before) && is_empty(after)) {
        return;
    }
    let empty = Map::new();
    let maps = (is_flat_map(before) || is_empty(before)) && (is_flat_map(after) || is_empty(after));
    if maps && (before.is_object() || after.is_object()) && depth > 0 {
        let b = before.as_object().unwrap_or(&empty);
        let a = after.as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let bv = b.get(k).unwrap_or(&Value::Null);
            let av = a.get(k).unwrap_or(&Value::Null);
            if !equivalent(bv, av) {
                out.push(Diff {
                    path: format!("{path}.{k}"),
                    state: bv.clone(),
                    observed: av.clone(),
                });
            }
        }
        return;
    }
    if depth > 0
        && depth < 8
        && let (Some(b), Some(a)) = (one_block(before), one_block(after))
    {
        let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            diff_at(
                &format!("{path}.0.{k}"),
                b.get(k).unwrap_or(&Value::Null),
                a.get(k).unwrap_or(&Value::Null),
                out,
                depth + 1,
            );
        }
        return;
    }
    out.push(Diff {
        path: path.to_string(),
        state: before.clone(),
        observed: after.clone(),
    });
}

/// The attribute differences of one change: `state` is the value before, `observed` after
/// (for a refresh-only drift: the state's value and the cloud's). `tags_all` is left out when
/// `tags` shows the same change (it mirrors tags plus the provider's `default_tags`), and so is
/// `id`. Sensitive values are masked.
#[must_use]
pub fn attribute_diffs(c: &ResourceChange) -> Vec<Diff> {
    let empty = Map::new();
    let b = c.before.as_object().unwrap_or(&empty);
    let a = c.after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        if k == "id" {
            continue;
        }
        diff_at(
            k,
            b.get(k).unwrap_or(&Value::Null),
            a.get(k).unwrap_or(&Value::Null),
            &mut out,
            1,
        );
    }
    let tag_paths: Vec<String> = out
        .iter()
        .filter_map(|d| d.path.strip_prefix("tags.").map(str::to_string))
        .collect();
    out.retain(|d| {
        d.path
            .strip_prefix("tags_all.")
            .is_none_or(|k| !tag_paths.iter().any(|t| t == k) && !b.contains_key("tags"))
    });
    for d in &mut out {
        if crate::mask::path_is_sensitive(&d.path, &c.sensitive) {
            d.state = crate::mask::mask_leaves(&d.state);
            d.observed = crate::mask::mask_leaves(&d.observed);
        } else {
            crate::mask::mask_credentials(&mut d.state);
            crate::mask::mask_credentials(&mut d.observed);
        }
    }
    out
}

/// Attributes whose refresh changes are noise (computed by the service, never set by
/// configuration): `(resource type or "*", attribute path prefix)`.
pub const REFRESH_NOISE: &[(&str, &str)] = &[
    ("aws_db_instance", "latest_restorable_time"),
    ("aws_rds_cluster", "latest_restorable_time"),
    ("aws_ssm_parameter", "version"),
    ("aws_kms_alias", "target_key_arn"),
    ("aws_iam_policy", "attachment_count"),
    ("aws_iam_role", "inline_policy"),
    ("aws_iam_role", "managed_policy_arns"),
    ("aws_s3_bucket", "policy"),
    ("aws_s3_bucket", "versioning"),
    ("aws_s3_bucket", "server_side_encryption_configuration"),
    ("aws_s3_bucket", "lifecycle_rule"),
    ("aws_s3_bucket", "logging"),
    ("aws_s3_bucket", "acl"),
    ("aws_s3_bucket", "grant"),
    ("*", "last_modified"),
    ("*", "last_updated"),
];

/// Whether a drifted path is refresh noise: a computed attribute on [`REFRESH_NOISE`] that
/// Terraform's `relevant_attributes` does not name for the resource. (In refresh-only mode
/// Terraform itself shows every drift, relevant or not, so a path outside
/// `relevant_attributes` is still reported; one inside it is never dropped.)
#[must_use]
pub fn is_noise(doc: &PlanDoc, c: &ResourceChange, path: &str) -> bool {
    let listed = REFRESH_NOISE
        .iter()
        .any(|(t, p)| (*t == "*" || *t == c.rtype) && covers(p, path));
    listed
        && !doc
            .relevant
            .iter()
            .any(|(a, p)| *a == c.address && overlaps(p, path))
}

#[cfg(test)]
mod tests;
