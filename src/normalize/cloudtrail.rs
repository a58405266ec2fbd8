//! CloudTrail record → [`CloudEvent`].
//!
//! The record struct borrows from the input buffer and leaves `requestParameters` /
//! `responseElements` as raw JSON until we know the call succeeded and wrote something: that keeps
//! the hot path (millions of read-only and failed calls) free of allocation-heavy `Value` trees.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::lenient::{self, Text, check_text, text};
use super::time::{parse_time_str, parse_time_value};
use crate::event::{Actor, CloudEvent, Provider};

/// A CloudTrail record, or any of the envelopes that carry one. Unknown keys are ignored; every
/// field is optional because real logs omit them freely. Text fields are [`Text`] and nested
/// objects raw, so a field of an unexpected type is named and left out instead of failing the
/// whole record.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Doc<'a> {
    // --- CloudTrail record fields ---
    #[serde(borrow)]
    pub event_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_time: Option<&'a RawValue>,
    #[serde(borrow)]
    pub event_source: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub aws_region: Option<Text<'a>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    pub source_ip_address: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    pub error_code: Option<Text<'a>>,
    #[serde(borrow, rename = "eventID")]
    pub event_id: Option<Text<'a>>,
    #[serde(borrow, rename = "requestID")]
    pub request_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub recipient_account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub read_only: Option<&'a RawValue>,
    #[serde(borrow)]
    pub event_category: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_identity: Option<&'a RawValue>,
    #[serde(borrow)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(borrow)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub resources: Option<&'a RawValue>,
    #[serde(borrow)]
    pub session_credential_from_console: Option<&'a RawValue>,

    // --- envelope keys (sniffed by `normalize`) ---
    #[serde(borrow, rename = "Records")]
    pub records: Option<&'a RawValue>,
    #[serde(borrow, rename = "detail-type")]
    pub detail_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub detail: Option<&'a RawValue>,
    #[serde(borrow, rename = "Events")]
    pub events: Option<&'a RawValue>,
    #[serde(borrow, rename = "CloudTrailEvent")]
    pub cloudtrail_event: Option<Text<'a>>,
    #[serde(borrow)]
    pub proto_payload: Option<&'a RawValue>,
    #[serde(borrow)]
    pub log_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub message: Option<&'a RawValue>,
    #[serde(borrow)]
    pub received_messages: Option<&'a RawValue>,
    #[serde(borrow, rename = "output_fields")]
    pub output_fields: Option<&'a RawValue>,
    #[serde(borrow, rename = "Type")]
    pub sns_type: Option<Text<'a>>,
    #[serde(borrow, rename = "Message")]
    pub sns_message: Option<Text<'a>>,
    #[serde(borrow)]
    pub digest_start_time: Option<&'a RawValue>,
    #[serde(borrow, rename = "Event")]
    pub s3_event: Option<Text<'a>>,
    #[serde(borrow)]
    pub s3_bucket: Option<&'a RawValue>,
    #[serde(borrow)]
    pub body: Option<Text<'a>>,
}

/// `userIdentity`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    pub identity_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub principal_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub account_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub invoked_by: Option<Text<'a>>,
    #[serde(borrow)]
    pub session_context: Option<&'a RawValue>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SessionContext<'a> {
    #[serde(borrow)]
    pub session_issuer: Option<&'a RawValue>,
    #[serde(borrow)]
    pub attributes: Option<&'a RawValue>,
}

/// `sessionContext.sessionIssuer`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SessionIssuer<'a> {
    #[serde(borrow)]
    pub arn: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_name: Option<Text<'a>>,
}

/// `sessionContext.attributes`; `mfaAuthenticated` is the string `"true"` / `"false"`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SessionAttributes<'a> {
    #[serde(borrow)]
    pub mfa_authenticated: Option<&'a RawValue>,
}

impl Doc<'_> {
    /// A document is a CloudTrail record when it names an event and is no envelope. Real
    /// exports drop fields freely (`eventSource`, `eventTime`), so nothing else is required.
    pub fn is_record(&self) -> bool {
        self.event_name.is_some()
            && self.records.is_none()
            && self.detail.is_none()
            && self.proto_payload.is_none()
            && self.output_fields.is_none()
    }
}

/// Reads a JSON boolean that some producers write as a string (`"true"`).
pub(crate) fn lenient_bool(raw: Option<&RawValue>) -> Option<bool> {
    match raw.map(RawValue::get)? {
        "true" | "\"true\"" | "\"True\"" => Some(true),
        "false" | "\"false\"" | "\"False\"" => Some(false),
        _ => None,
    }
}

fn owned(c: Option<&Text<'_>>) -> Option<String> {
    text(c).map(ToString::to_string).filter(|s| !s.is_empty())
}

/// A nested object, or `T::default()` with the field named in `notes` when it is no object.
fn nested<'a, T: Deserialize<'a> + Default>(
    raw: Option<&'a RawValue>,
    name: &str,
    notes: &mut Vec<String>,
) -> Option<T> {
    let raw = raw?;
    match serde_json::from_str(raw.get()) {
        Ok(v) => Some(v),
        Err(e) => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg);
            notes.push(format!("{name}: {msg}"));
            None
        }
    }
}

fn parse_raw(raw: Option<&RawValue>, name: &str, notes: &mut Vec<String>) -> Value {
    raw.and_then(|r| lenient::value(r.get(), name, notes))
        .unwrap_or(Value::Null)
}

/// Strips API-version suffixes: `UpdateFunctionConfiguration20150331v2` → `UpdateFunctionConfiguration`,
/// `CreateDistribution2020_05_31` → `CreateDistribution`.
#[must_use]
pub fn strip_version_suffix(name: &str) -> &str {
    let mut s = name;
    // trailing `v<digits>`
    if let Some(v) = s.rfind('v') {
        let tail = &s[v + 1..];
        let head = &s.as_bytes()[..v];
        let dated = head.len() > 8 && head[head.len() - 8..].iter().all(u8::is_ascii_digit);
        if dated && !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            s = &s[..v];
        }
    }
    let bytes = s.as_bytes();
    let n = bytes.len();
    // `YYYYMMDD`
    if n > 8 && bytes[n - 8..].iter().all(u8::is_ascii_digit) && bytes[n - 9].is_ascii_alphabetic()
    {
        return &s[..n - 8];
    }
    // `YYYY_MM_DD`
    if n > 10 {
        let tail = &bytes[n - 10..];
        let shape = tail.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'_'
            } else {
                b.is_ascii_digit()
            }
        });
        if shape {
            return &s[..n - 10];
        }
    }
    if s.len() == name.len() { name } else { s }
}

/// Session name of an assumed-role ARN (`arn:aws:sts::1:assumed-role/Role/alice` → `alice`), else
/// the part of the principal id after `:`.
fn session_name(arn: Option<&str>, principal: Option<&str>) -> Option<String> {
    if let Some(arn) = arn
        && let Some(rest) = arn.split_once(":assumed-role/").map(|(_, r)| r)
        && let Some((_, session)) = rest.split_once('/')
    {
        return Some(session.to_string());
    }
    principal
        .and_then(|p| p.split_once(':'))
        .map(|(_, s)| s.to_string())
}

/// The record's `eventTime`, when it has one that reads as a time.
fn event_time(doc: &Doc<'_>) -> Option<chrono::DateTime<chrono::Utc>> {
    doc.event_time.and_then(|raw| {
        let text = raw.get();
        // Fast path: a plain quoted timestamp (no escapes) needs no JSON value.
        match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) if !inner.contains('\\') => parse_time_str(inner),
            _ => serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| parse_time_value(&v)),
        }
    })
}

/// Builds the normalised event. `needs_payload` is false for calls that can never drift (failed
/// or read-only), which then skip parsing their request and response.
pub(crate) fn to_event(doc: &Doc<'_>, fallback_id: impl FnOnce() -> String) -> CloudEvent {
    let mut notes = Vec::new();
    for (field, name) in [
        (&doc.event_source, "eventSource"),
        (&doc.event_name, "eventName"),
        (&doc.aws_region, "awsRegion"),
        (&doc.source_ip_address, "sourceIPAddress"),
        (&doc.user_agent, "userAgent"),
        (&doc.error_code, "errorCode"),
        (&doc.event_id, "eventID"),
        (&doc.request_id, "requestID"),
        (&doc.recipient_account_id, "recipientAccountId"),
        (&doc.event_category, "eventCategory"),
    ] {
        check_text(field.as_ref(), name, &mut notes);
    }
    let mut ev = CloudEvent::new(Provider::Aws);
    let source = text(doc.event_source.as_ref()).unwrap_or_default();
    ev.source = source.to_string();
    ev.service = source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(source)
        .to_string();
    let raw_action = text(doc.event_name.as_ref()).unwrap_or_default();
    ev.raw_action = raw_action.to_string();
    ev.action = strip_version_suffix(raw_action).to_string();
    ev.time = event_time(doc);
    if doc.event_time.is_some() && ev.time.is_none() {
        notes.push("eventTime: not a time".into());
    }
    ev.region = owned(doc.aws_region.as_ref());
    ev.error_code = owned(doc.error_code.as_ref());
    ev.read_only = lenient_bool(doc.read_only);
    ev.category = owned(doc.event_category.as_ref()).or_else(|| {
        text(doc.event_type.as_ref())
            .filter(|t| *t == "AwsConsoleSignIn")
            .map(|_| "SignIn".to_string())
    });
    ev.id = owned(doc.event_id.as_ref())
        .or_else(|| owned(doc.request_id.as_ref()))
        .unwrap_or_else(fallback_id);

    let mut actor = Actor {
        user_agent: owned(doc.user_agent.as_ref()),
        source_ip: owned(doc.source_ip_address.as_ref()),
        ..Actor::default()
    };
    let mut account = owned(doc.recipient_account_id.as_ref());
    let ui: Option<UserIdentity<'_>> = nested(doc.user_identity, "userIdentity", &mut notes);
    if let Some(ui) = &ui {
        for (field, name) in [
            (&ui.identity_type, "userIdentity.type"),
            (&ui.principal_id, "userIdentity.principalId"),
            (&ui.arn, "userIdentity.arn"),
            (&ui.account_id, "userIdentity.accountId"),
            (&ui.user_name, "userIdentity.userName"),
            (&ui.invoked_by, "userIdentity.invokedBy"),
        ] {
            check_text(field.as_ref(), name, &mut notes);
        }
        actor.identity_type = owned(ui.identity_type.as_ref());
        actor.principal = owned(ui.principal_id.as_ref());
        actor.arn = owned(ui.arn.as_ref());
        actor.invoked_by = owned(ui.invoked_by.as_ref());
        if account.is_none() {
            account = owned(ui.account_id.as_ref());
        }
        if actor.identity_type.as_deref() == Some("AssumedRole") {
            actor.session = session_name(actor.arn.as_deref(), actor.principal.as_deref());
        } else if let Some(name) = owned(ui.user_name.as_ref()) {
            actor.session = Some(name);
        }
        let ctx: Option<SessionContext<'_>> = nested(
            ui.session_context,
            "userIdentity.sessionContext",
            &mut notes,
        );
        if let Some(ctx) = &ctx {
            let issuer: Option<SessionIssuer<'_>> = nested(
                ctx.session_issuer,
                "userIdentity.sessionContext.sessionIssuer",
                &mut notes,
            );
            actor.session_issuer = issuer.as_ref().and_then(|i| owned(i.arn.as_ref()));
            let attrs: Option<SessionAttributes<'_>> = nested(
                ctx.attributes,
                "userIdentity.sessionContext.attributes",
                &mut notes,
            );
            actor.mfa = attrs.and_then(|a| lenient_bool(a.mfa_authenticated));
        }
    }
    ev.account = account;
    ev.actor = actor;

    let needs_payload = ev.error_code.is_none() && ev.read_only != Some(true);
    if needs_payload {
        ev.request = parse_raw(doc.request_parameters, "requestParameters", &mut notes);
        ev.response = parse_raw(doc.response_elements, "responseElements", &mut notes);
        let console = lenient_bool(doc.session_credential_from_console);
        if doc.additional_event_data.is_some() || doc.resources.is_some() || console.is_some() {
            let mut extra = serde_json::Map::new();
            if let Some(c) = console {
                extra.insert("sessionCredentialFromConsole".into(), Value::Bool(c));
            }
            if let Some(a) = doc.additional_event_data {
                extra.insert(
                    "additionalEventData".into(),
                    parse_raw(Some(a), "additionalEventData", &mut notes),
                );
            }
            if let Some(r) = doc.resources {
                extra.insert(
                    "resources".into(),
                    parse_raw(Some(r), "resources", &mut notes),
                );
            }
            ev.extra = Value::Object(extra);
        }
    }
    lenient::mark(&mut ev, notes);
    ev
}

/// What the replay prefilter needs of a record that can never drift: its dedupe id (before
/// [`super::MAX_ID_BYTES`] capping; `None`: derived from the record's text) and why it is silent.
pub(crate) struct Quiet<'d> {
    pub id: Option<&'d str>,
    pub kind: crate::pipeline::classify::Silent,
}

/// Decides from the few fields it needs whether `doc` (a record: [`Doc::is_record`]) is a
/// failed, data-plane or read-only call, and that [`to_event`] would note no unreadable field
/// for it, without building the event. `None`: the record may drift, or would carry a note
/// (counted in the stats), so it takes the full path. Mirrors `to_event` + `classify`: the
/// replay equivalence test and the `replay_engine` fuzz target hold the two together.
pub(crate) fn quiet<'d>(doc: &'d Doc<'_>) -> Option<Quiet<'d>> {
    let nonempty = |t: Option<&'d Text<'_>>| text(t).filter(|s| !s.is_empty());
    let error = nonempty(doc.error_code.as_ref()).is_some();
    let category = nonempty(doc.event_category.as_ref()).or_else(|| {
        (text(doc.event_type.as_ref()) == Some("AwsConsoleSignIn")).then_some("SignIn")
    });
    let action = strip_version_suffix(text(doc.event_name.as_ref()).unwrap_or_default());
    let read_only = lenient_bool(doc.read_only);
    let kind = crate::pipeline::classify::silent_call(
        crate::event::Provider::Aws,
        error,
        category,
        action,
        read_only,
    )?;
    let texts = [
        &doc.event_source,
        &doc.event_name,
        &doc.aws_region,
        &doc.source_ip_address,
        &doc.user_agent,
        &doc.error_code,
        &doc.event_id,
        &doc.request_id,
        &doc.recipient_account_id,
        &doc.event_category,
    ];
    if texts.iter().any(|t| matches!(t, Some(Text::Other(_)))) {
        return None;
    }
    if doc.event_time.is_some() && event_time(doc).is_none() {
        return None;
    }
    if !identity_reads(doc.user_identity) {
        return None;
    }
    // `to_event` parses the payload of a call that did not fail and is not flagged read-only.
    let needs_payload = !error && read_only != Some(true);
    if needs_payload
        && ![
            doc.request_parameters,
            doc.response_elements,
            doc.additional_event_data,
            doc.resources,
        ]
        .into_iter()
        .flatten()
        .all(|raw| surely_parses(raw.get()))
    {
        return None;
    }
    let id = nonempty(doc.event_id.as_ref()).or_else(|| nonempty(doc.request_id.as_ref()));
    Some(Quiet { id, kind })
}

/// Whether `userIdentity` reads as `to_event` reads it without a note (its nested objects
/// parse, its text fields are text).
fn identity_reads(raw: Option<&RawValue>) -> bool {
    let Some(raw) = raw else { return true };
    let Ok(ui) = serde_json::from_str::<UserIdentity<'_>>(raw.get()) else {
        return false;
    };
    let texts = [
        &ui.identity_type,
        &ui.principal_id,
        &ui.arn,
        &ui.account_id,
        &ui.user_name,
        &ui.invoked_by,
    ];
    if texts.iter().any(|t| matches!(t, Some(Text::Other(_)))) {
        return false;
    }
    let Some(ctx) = ui.session_context else {
        return true;
    };
    let Ok(ctx) = serde_json::from_str::<SessionContext<'_>>(ctx.get()) else {
        return false;
    };
    ctx.session_issuer
        .is_none_or(|i| serde_json::from_str::<SessionIssuer<'_>>(i.get()).is_ok())
        && ctx
            .attributes
            .is_none_or(|a| serde_json::from_str::<SessionAttributes<'_>>(a.get()).is_ok())
}

/// Whether valid JSON `text` surely parses into a `serde_json::Value` (so that
/// [`lenient::value`] notes nothing): no number that could overflow (an exponent, 300 digits),
/// no `\u` escape in the surrogate range, nesting well under serde's limit. `false` only means
/// "maybe not": the caller then takes the full path. A scan, no allocation.
pub(crate) fn surely_parses(text: &str) -> bool {
    let b = text.as_bytes();
    let mut depth = 0u32;
    let mut digits = 0u32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(at) = memchr::memchr2(b'"', b'\\', &b[i..]) else {
                        return false;
                    };
                    i += at;
                    if b[i] == b'"' {
                        break;
                    }
                    if b.get(i + 1) == Some(&b'u') && matches!(b.get(i + 2), Some(b'd' | b'D')) {
                        return false;
                    }
                    i += 2;
                }
                digits = 0;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > 100 {
                    return false;
                }
                digits = 0;
            }
            b'0'..=b'9' => {
                digits += 1;
                if digits > 300 {
                    return false;
                }
            }
            b'e' | b'E' if i > 0 && b[i - 1].is_ascii_digit() => return false,
            _ => digits = 0,
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_suffixes() {
        assert_eq!(
            strip_version_suffix("UpdateFunctionConfiguration20150331v2"),
            "UpdateFunctionConfiguration"
        );
        assert_eq!(
            strip_version_suffix("CreateFunction20150331"),
            "CreateFunction"
        );
        assert_eq!(
            strip_version_suffix("UpdateDistribution2020_05_31"),
            "UpdateDistribution"
        );
        assert_eq!(strip_version_suffix("CreateDBInstance"), "CreateDBInstance");
        assert_eq!(
            strip_version_suffix("CreateVpcEndpointV2"),
            "CreateVpcEndpointV2"
        );
        assert_eq!(strip_version_suffix("Ec2v2"), "Ec2v2");
    }

    #[test]
    fn assumed_role_session() {
        assert_eq!(
            session_name(
                Some("arn:aws:sts::1:assumed-role/Admin/alice@example.com"),
                None
            ),
            Some("alice@example.com".into())
        );
        assert_eq!(
            session_name(None, Some("AROAEXAMPLE:bob")),
            Some("bob".into())
        );
    }

    #[test]
    fn surely_parses_flags_what_a_value_parse_may_refuse() {
        for ok in [
            r#"{"a":[1,2.5,-3],"b":"x\u00e9\n","t":true,"f":false,"n":null}"#,
            r#""plain""#,
            "12345",
        ] {
            assert!(surely_parses(ok), "{ok}");
            assert!(serde_json::from_str::<Value>(ok).is_ok(), "{ok}");
        }
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let long = "9".repeat(400);
        for maybe in [
            r#"{"big":1e999}"#,
            r#"{"x":1.5E3}"#,
            r#"{"s":"\ud800"}"#,
            deep.as_str(),
            long.as_str(),
        ] {
            assert!(!surely_parses(maybe), "{maybe}");
        }
    }
}
