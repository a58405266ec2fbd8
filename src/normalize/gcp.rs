//! GCP Cloud Audit Log `LogEntry` → [`CloudEvent`].
//!
//! Method names are normalised (`v1.compute.firewalls.patch` → `compute.firewalls.patch`), failed
//! calls are recognised by a non-zero `status.code`, and long-running operations keep their
//! `operation {id, first, last}` marker so the pipeline alerts once per operation (the id being
//! the operation id with the method and resource: ids repeat in real exports).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::time::parse_time_value;
use crate::event::{Actor, CloudEvent, Operation, Provider};

/// Why a JSON object that looks like a LogEntry is not turned into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAudit {
    /// No `protoPayload.methodName`: an application log, not an audit log.
    NoMethod,
}

/// Strips API-version prefixes from a GCP method name: `v1.`, `beta.`, `v1beta1.`, `alpha.`.
#[must_use]
pub fn strip_method_prefix(method: &str) -> &str {
    if let Some((head, rest)) = method.split_once('.') {
        let versioned = head == "beta"
            || head == "alpha"
            || (head.len() >= 2
                && head.starts_with('v')
                && head[1..].starts_with(|c: char| c.is_ascii_digit())
                && head[1..]
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric()));
        if versioned && !rest.is_empty() {
            return rest;
        }
    }
    method
}

/// Whether one dotted segment of a method name is an API version: `v1`, `v0`, `v2beta3`,
/// `v1p1beta1`, `v1alpha`.
fn is_version_segment(seg: &str) -> bool {
    let Some(rest) = seg.strip_prefix('v') else {
        return false;
    };
    let after_digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    after_digits.len() < rest.len() && after_digits.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A method name with every API-version segment removed, so one catalog entry matches every
/// version: `google.cloud.datafusion.v1beta1.DataFusion.UpdateInstance` →
/// `google.cloud.datafusion.DataFusion.UpdateInstance`, `beta.compute.instances.insert` →
/// `compute.instances.insert`. The last segment (the method itself) is never removed. The event
/// keeps the name as logged in `raw_action`; borrowed when there is nothing to remove.
#[must_use]
pub fn version_free(method: &str) -> Cow<'_, str> {
    let method = strip_method_prefix(method);
    let Some((head, _last)) = method.rsplit_once('.') else {
        return Cow::Borrowed(method);
    };
    if !head.split('.').any(is_version_segment) {
        return Cow::Borrowed(method);
    }
    let segs: Vec<&str> = method.split('.').collect();
    let last = segs.len() - 1;
    let kept: Vec<&str> = segs
        .iter()
        .enumerate()
        .filter(|(i, seg)| *i == last || !is_version_segment(seg))
        .map(|(_, seg)| *seg)
        .collect();
    Cow::Owned(kept.join("."))
}

fn s(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Project id from a `logName` such as `projects/p/logs/cloudaudit.googleapis.com%2Factivity`.
fn project_from_log_name(log_name: &str) -> Option<String> {
    log_name
        .strip_prefix("projects/")
        .and_then(|r| r.split('/').next())
        .map(str::to_string)
}

/// Log category from the log name's suffix (`activity`, `data_access`, `system_event`, `policy`).
fn category(log_name: &str) -> Option<String> {
    let decoded = log_name.replace("%2F", "/").replace("%2f", "/");
    let kind = decoded.rsplit('/').next()?;
    Some(
        match kind {
            "activity" => "Management",
            "data_access" => "Data",
            "system_event" => "SystemEvent",
            "policy" => "Policy",
            _ => return None,
        }
        .to_string(),
    )
}

/// Converts one LogEntry. `fallback_id` is used when the entry has no `insertId`.
pub fn to_event(
    entry: &Value,
    fallback_id: impl FnOnce() -> String,
) -> Result<CloudEvent, NotAudit> {
    let pp = entry.get("protoPayload").unwrap_or(&Value::Null);
    let method = s(pp, "/methodName").ok_or(NotAudit::NoMethod)?;
    let mut ev = CloudEvent::new(Provider::Gcp);
    let service_name = s(pp, "/serviceName").unwrap_or_default();
    ev.service = service_name
        .strip_suffix(".googleapis.com")
        .unwrap_or(&service_name)
        .to_string();
    ev.source = service_name;
    ev.action = strip_method_prefix(&method).to_string();
    ev.raw_action = method;
    ev.time = entry
        .get("timestamp")
        .and_then(parse_time_value)
        .or_else(|| entry.get("receiveTimestamp").and_then(parse_time_value));
    let labels = entry.pointer("/resource/labels").unwrap_or(&Value::Null);
    ev.region = s(labels, "/location")
        .or_else(|| s(labels, "/region"))
        .or_else(|| s(labels, "/zone"));
    let log_name = entry
        .get("logName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ev.account = s(labels, "/project_id").or_else(|| project_from_log_name(log_name));
    ev.category = category(log_name);
    ev.id = s(entry, "/insertId").unwrap_or_else(fallback_id);
    ev.resource_name = s(pp, "/resourceName");

    let email = s(pp, "/authenticationInfo/principalEmail");
    let identity_type = email.as_deref().map(|e| {
        if e.ends_with(".gserviceaccount.com") {
            "serviceAccount"
        } else {
            "user"
        }
        .to_string()
    });
    let delegation: Vec<String> = pp
        .pointer("/authenticationInfo/serviceAccountDelegationInfo")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    s(d, "/firstPartyPrincipal/principalEmail")
                        .or_else(|| s(d, "/thirdPartyPrincipal/thirdPartyClaims/email"))
                        .or_else(|| s(d, "/principalSubject"))
                })
                .collect()
        })
        .unwrap_or_default();
    ev.actor = Actor {
        identity_type,
        principal: s(pp, "/authenticationInfo/principalSubject").or_else(|| email.clone()),
        arn: None,
        email,
        session: None,
        session_issuer: delegation.first().cloned(),
        invoked_by: None,
        user_agent: s(pp, "/requestMetadata/callerSuppliedUserAgent"),
        source_ip: s(pp, "/requestMetadata/callerIp"),
        mfa: None,
        delegation,
    };
    let status_code = pp
        .pointer("/status/code")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if status_code != 0 {
        ev.error_code = Some(s(pp, "/status/message").map_or_else(
            || format!("status {status_code}"),
            |m| format!("{status_code}: {m}"),
        ));
    }
    ev.request = pp.get("request").cloned().unwrap_or(Value::Null);
    ev.response = pp.get("response").cloned().unwrap_or(Value::Null);
    let mut extra = Map::new();
    for key in [
        "serviceData",
        "metadata",
        "resourceOriginalState",
        "authorizationInfo",
    ] {
        if let Some(v) = pp.get(key) {
            extra.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = entry.get("resource") {
        extra.insert("resource".into(), v.clone());
    }
    ev.extra = Value::Object(extra);
    // Operation ids are not unique in real exports (scrubbed `operation-1234-…`, reused ids
    // across a firewall insert and patch): the dedupe key is (id, method, resource), so two
    // operations sharing an id do not swallow each other; the first and last entries of one
    // operation share all three.
    ev.operation = entry.get("operation").and_then(|op| {
        let id = s(op, "/id")?;
        Some(Operation {
            id: format!(
                "{id}|{}|{}",
                version_free(&ev.action),
                ev.resource_name.as_deref().unwrap_or_default()
            ),
            first: op.get("first").and_then(Value::as_bool).unwrap_or(false),
            last: op.get("last").and_then(Value::as_bool).unwrap_or(false),
        })
    });
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_prefixes() {
        assert_eq!(
            strip_method_prefix("v1.compute.firewalls.patch"),
            "compute.firewalls.patch"
        );
        assert_eq!(
            strip_method_prefix("beta.compute.instances.insert"),
            "compute.instances.insert"
        );
        assert_eq!(strip_method_prefix("v1beta1.foo.bar"), "foo.bar");
        assert_eq!(
            strip_method_prefix("storage.setIamPermissions"),
            "storage.setIamPermissions"
        );
        assert_eq!(
            strip_method_prefix("google.iam.admin.v1.CreateRole"),
            "google.iam.admin.v1.CreateRole"
        );
        assert_eq!(strip_method_prefix("SetIamPolicy"), "SetIamPolicy");
    }

    #[test]
    fn version_segments_anywhere() {
        for (logged, free) in [
            (
                "google.cloud.datafusion.v1beta1.DataFusion.UpdateInstance",
                "google.cloud.datafusion.DataFusion.UpdateInstance",
            ),
            (
                "google.cloud.dataproc.v1beta2.ClusterController.CreateCluster",
                "google.cloud.dataproc.ClusterController.CreateCluster",
            ),
            (
                "google.api.servicemanagement.v0.ServiceManager.EnableService",
                "google.api.servicemanagement.ServiceManager.EnableService",
            ),
            (
                "google.api.serviceusage.v0.ServiceUsage.BatchEnableServices",
                "google.api.serviceusage.ServiceUsage.BatchEnableServices",
            ),
            ("beta.compute.instances.insert", "compute.instances.insert"),
            ("alpha.compute.instances.insert", "compute.instances.insert"),
            ("v1.compute.firewalls.patch", "compute.firewalls.patch"),
            (
                "google.iam.admin.v1.SetIAMPolicy",
                "google.iam.admin.SetIAMPolicy",
            ),
            (
                "google.cloud.vision.v1p3beta1.ProductSearch.CreateProduct",
                "google.cloud.vision.ProductSearch.CreateProduct",
            ),
            ("tableservice.insert", "tableservice.insert"),
            ("storage.buckets.v2", "storage.buckets.v2"),
            ("SetIamPolicy", "SetIamPolicy"),
            (
                "google.cloud.ventures.Vendor.Create",
                "google.cloud.ventures.Vendor.Create",
            ),
        ] {
            assert_eq!(version_free(logged), free, "{logged}");
        }
    }

    #[test]
    fn operations_keyed_by_id_method_and_resource() {
        let entry = |method: &str, resource: &str| {
            serde_json::json!({
                "insertId": "x",
                "operation": {"id": "operation-1234", "first": true},
                "protoPayload": {"methodName": method, "resourceName": resource, "serviceName": "compute.googleapis.com"}
            })
        };
        let key = |method: &str, resource: &str| {
            to_event(&entry(method, resource), String::new)
                .unwrap()
                .operation
                .unwrap()
                .id
        };
        let insert = key(
            "v1.compute.firewalls.insert",
            "projects/p/global/firewalls/a",
        );
        assert_ne!(
            insert,
            key(
                "v1.compute.firewalls.patch",
                "projects/p/global/firewalls/a"
            )
        );
        assert_ne!(
            insert,
            key(
                "v1.compute.firewalls.insert",
                "projects/p/global/firewalls/b"
            )
        );
        assert_eq!(
            insert,
            key(
                "beta.compute.firewalls.insert",
                "projects/p/global/firewalls/a"
            )
        );
    }

    #[test]
    fn category_from_log_name() {
        assert_eq!(
            category("projects/p/logs/cloudaudit.googleapis.com%2Fdata_access").as_deref(),
            Some("Data")
        );
        assert_eq!(
            category("projects/p/logs/cloudaudit.googleapis.com%2Factivity").as_deref(),
            Some("Management")
        );
    }
}
