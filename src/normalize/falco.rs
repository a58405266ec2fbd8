//! Falco alerts (JSON `json_output` / `http_output`, and the legacy gRPC `output_fields` map) from
//! the cloudtrail (`ct.*`) and gcpaudit (`gcp.*`) plugins → [`CloudEvent`].
//!
//! Falco flattens the record into output fields; JSON-valued fields arrive as JSON text in a
//! string, gRPC stringifies every value (`"null"`), and gcpaudit may send `""` for object fields.
//! All of those are treated as "absent" or parsed a second time here.

use serde_json::{Map, Value, json};

use super::cloudtrail::strip_version_suffix;
use super::gcp::strip_method_prefix;
use super::time::{parse_time_str, parse_time_value};
use crate::event::{Actor, CloudEvent, Provider};

/// What a Falco alert turned out to be.
#[derive(Debug)]
pub enum FalcoAlert {
    /// A cloud API call from one of the plugins we understand.
    Event(Box<CloudEvent>),
    /// Falco's own health messages (`source: internal`): not drift.
    Internal,
    /// Another source (syscall, k8s_audit …): not ours.
    OtherSource(String),
    /// A plugin alert without the fields we need (named).
    Incomplete(&'static str),
}

/// A string output field; JSON null, `"null"`, `"<NA>"` and `""` count as absent.
fn field(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) if s.is_empty() || s == "null" || s == "<NA>" => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A JSON-valued field sent as JSON text (or, from older builds, as a real object). Read
/// leniently: an unreadable leaf inside (`1e999`, nesting past the limit) costs only itself and
/// is named in `notes`.
fn json_field(fields: &Map<String, Value>, key: &str, notes: &mut Vec<String>) -> Value {
    match fields.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s != "null" && s != "<NA>" => {
            super::lenient::value(s, key, notes).unwrap_or(Value::Null)
        }
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.clone(),
        _ => Value::Null,
    }
}

fn bool_field(fields: &Map<String, Value>, key: &str) -> Option<bool> {
    match fields.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Converts a Falco alert. `top` is the whole alert object (for `source`, `time`).
pub fn to_event(top: &Map<String, Value>, fallback_id: impl FnOnce() -> String) -> FalcoAlert {
    let source = top
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(Value::Object(fields)) = top.get("output_fields") else {
        return FalcoAlert::Incomplete("output_fields");
    };
    let time = field(fields, "ct.time")
        .as_deref()
        .and_then(parse_time_str)
        .or_else(|| {
            field(fields, "gcp.time")
                .as_deref()
                .and_then(parse_time_str)
        })
        .or_else(|| fields.get("evt.time").and_then(parse_time_value))
        .or_else(|| {
            field(fields, "evt.time")
                .as_deref()
                .and_then(parse_time_str)
        })
        .or_else(|| top.get("time").and_then(parse_time_value));
    match source {
        "aws_cloudtrail" => cloudtrail(fields, time, fallback_id),
        "gcp_auditlog" => gcpaudit(fields, time, fallback_id),
        "internal" => FalcoAlert::Internal,
        other => FalcoAlert::OtherSource(other.to_string()),
    }
}

fn cloudtrail(
    f: &Map<String, Value>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    fallback_id: impl FnOnce() -> String,
) -> FalcoAlert {
    let Some(name) = field(f, "ct.name") else {
        return FalcoAlert::Incomplete("ct.name");
    };
    let mut ev = CloudEvent::new(Provider::Aws);
    let src = field(f, "ct.src").unwrap_or_default();
    ev.service = field(f, "ct.shortsrc").unwrap_or_else(|| {
        src.strip_suffix(".amazonaws.com")
            .unwrap_or(&src)
            .to_string()
    });
    ev.source = src;
    ev.action = strip_version_suffix(&name).to_string();
    ev.raw_action = name;
    ev.time = time;
    ev.region = field(f, "ct.region");
    ev.account = field(f, "ct.user.accountid").or_else(|| field(f, "ct.recipientaccountid"));
    ev.error_code = field(f, "ct.error");
    ev.read_only = bool_field(f, "ct.readonly");
    ev.category = field(f, "ct.eventcategory");
    ev.id = field(f, "ct.id").unwrap_or_else(fallback_id);
    let identity_type = field(f, "ct.user.identitytype");
    let session = if identity_type.as_deref() == Some("AssumedRole") {
        field(f, "ct.originaluser")
    } else {
        field(f, "ct.user")
    };
    ev.actor = Actor {
        identity_type,
        principal: field(f, "ct.user.principalid"),
        arn: field(f, "ct.user.arn"),
        email: None,
        session,
        session_issuer: None,
        invoked_by: None,
        user_agent: field(f, "ct.useragent"),
        source_ip: field(f, "ct.srcip"),
        mfa: None,
        delegation: Vec::new(),
    };
    if ev.error_code.is_none() && ev.read_only != Some(true) {
        let mut notes = Vec::new();
        ev.request = json_field(f, "ct.request", &mut notes);
        ev.response = json_field(f, "ct.response", &mut notes);
        let extra = json_field(f, "ct.additionaleventdata", &mut notes);
        if !extra.is_null() {
            ev.extra = json!({ "additionalEventData": extra });
        }
        super::lenient::mark(&mut ev, notes);
    }
    FalcoAlert::Event(Box::new(ev))
}

fn gcpaudit(
    f: &Map<String, Value>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    fallback_id: impl FnOnce() -> String,
) -> FalcoAlert {
    let Some(method) = field(f, "gcp.methodName") else {
        return FalcoAlert::Incomplete("gcp.methodName");
    };
    let mut ev = CloudEvent::new(Provider::Gcp);
    let service = field(f, "gcp.serviceName").unwrap_or_default();
    ev.service = service
        .strip_suffix(".googleapis.com")
        .unwrap_or(&service)
        .to_string();
    ev.source = service;
    ev.action = strip_method_prefix(&method).to_string();
    ev.raw_action = method;
    ev.time = time;
    ev.region = field(f, "gcp.location");
    ev.account = field(f, "gcp.projectId");
    ev.resource_name = field(f, "gcp.resourceName");
    // The gcpaudit plugin exposes no insertId: the fallback id hashes the whole alert.
    ev.id = fallback_id();
    let email = field(f, "gcp.user");
    ev.actor = Actor {
        identity_type: email.as_deref().map(|e| {
            if e.ends_with(".gserviceaccount.com") {
                "serviceAccount"
            } else {
                "user"
            }
            .to_string()
        }),
        principal: email.clone(),
        email,
        user_agent: field(f, "gcp.userAgent"),
        source_ip: field(f, "gcp.callerIP"),
        ..Actor::default()
    };
    let mut notes = Vec::new();
    ev.request = json_field(f, "gcp.request", &mut notes);
    let delta = json_field(f, "gcp.policyDelta", &mut notes);
    let mut extra = Map::new();
    if !delta.is_null() {
        extra.insert(
            "serviceData".into(),
            json!({ "policyDelta": { "bindingDeltas": delta } }),
        );
    }
    let labels = json_field(f, "gcp.resourceLabels", &mut notes);
    if let Some(rtype) = field(f, "gcp.resourceType") {
        extra.insert(
            "resource".into(),
            json!({ "type": rtype, "labels": labels }),
        );
    }
    ev.extra = Value::Object(extra);
    super::lenient::mark(&mut ev, notes);
    FalcoAlert::Event(Box::new(ev))
}
