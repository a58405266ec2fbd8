//! Lenient reading of what real and hostile logs put in fields: keep what can be kept, name
//! what could not be read.
//!
//! serde fails a whole value for one bad leaf: a number like `1e999` (out of `f64` range) or an
//! object nested deeper than its recursion limit anywhere inside `requestParameters` would throw
//! the whole parameter object away, and with it the resource id. [`value`] parses member by
//! member when the whole fails, leaving out only the unreadable leaves and noting their paths.
//! [`Text`] reads a string field that a producer wrote as a number (`"recipientAccountId":
//! 123456789012`) as its text, and anything else as "unreadable" instead of failing the record.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::CloudEvent;

/// Levels [`value`] descends into a failing value before giving up on the rest of it.
const MAX_DEPTH: usize = 64;

/// Key under `CloudEvent::extra` listing the fields that could not be read.
pub const UNREADABLE: &str = "unreadable";

/// A string field read leniently: a JSON string as is, a number or boolean as its JSON text,
/// an object or array kept raw (unreadable as a string, named by the caller).
#[derive(Debug)]
pub enum Text<'a> {
    /// The field as text.
    Str(Cow<'a, str>),
    /// JSON that is no string, number or boolean.
    Other(&'a RawValue),
}

impl Text<'_> {
    /// The text, if the field was readable as one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Text::Str(s) => Some(s),
            Text::Other(_) => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'"') => match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                // No escapes: borrow.
                Some(inner) if !inner.contains('\\') => Text::Str(Cow::Borrowed(inner)),
                _ => serde_json::from_str::<String>(text)
                    .map_or(Text::Other(raw), |s| Text::Str(Cow::Owned(s))),
            },
            Some(b'{' | b'[') | None => Text::Other(raw),
            // Numbers, booleans (null never reaches here: `Option` takes it).
            Some(_) => Text::Str(Cow::Borrowed(text)),
        })
    }
}

/// The text of an optional lenient field.
#[must_use]
pub fn text<'a>(field: Option<&'a Text<'_>>) -> Option<&'a str> {
    field.and_then(Text::as_str)
}

/// Notes `name` as unreadable when the field holds JSON that is no text.
pub fn check_text(field: Option<&Text<'_>>, name: &str, notes: &mut Vec<String>) {
    if let Some(Text::Other(raw)) = field {
        notes.push(format!(
            "{name}: expected a string, found {}",
            kind(raw.get())
        ));
    }
}

fn kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        _ => "another JSON type",
    }
}

/// The members of an object in order, each left raw.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses JSON `text` found at `path` (`requestParameters`), keeping what can be kept. A member
/// that cannot be read is left out of its object (an element becomes null, so indexes hold) and
/// `path.key: reason` is added to `notes`. `None` when nothing at all could be read.
pub fn value(text: &str, path: &str, notes: &mut Vec<String>) -> Option<Value> {
    value_at(text, path, notes, 0)
}

fn value_at(text: &str, path: &str, notes: &mut Vec<String>, depth: usize) -> Option<Value> {
    let err = match serde_json::from_str::<Value>(text) {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    let reason = || {
        let msg = err.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        if msg.contains("recursion limit") {
            "nested too deep to read".to_string()
        } else {
            msg
        }
    };
    if depth >= MAX_DEPTH {
        notes.push(format!("{path}: {}", reason()));
        return None;
    }
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {
            let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(text) else {
                notes.push(format!("{path}: {}", reason()));
                return None;
            };
            let mut map = Map::new();
            for (key, raw) in members {
                let sub = format!("{path}.{key}");
                if let Some(v) = value_at(raw.get(), &sub, notes, depth + 1) {
                    map.insert(key, v);
                }
            }
            Some(Value::Object(map))
        }
        Some(b'[') => {
            let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text) else {
                notes.push(format!("{path}: {}", reason()));
                return None;
            };
            let items = items
                .iter()
                .enumerate()
                .map(|(i, raw)| {
                    value_at(raw.get(), &format!("{path}.{i}"), notes, depth + 1)
                        .unwrap_or(Value::Null)
                })
                .collect();
            Some(Value::Array(items))
        }
        _ => {
            notes.push(format!("{path}: {}", reason()));
            None
        }
    }
}

/// Records `notes` on the event (`extra.unreadable`), so the fields that could not be read are
/// named wherever the event goes, and logs them.
pub fn mark(ev: &mut CloudEvent, notes: Vec<String>) {
    if notes.is_empty() {
        return;
    }
    tracing::debug!(event = %ev.id, fields = ?notes, "Fields that could not be read");
    if !ev.extra.is_object() {
        ev.extra = Value::Object(Map::new());
    }
    if let Value::Object(extra) = &mut ev.extra {
        let list = extra
            .entry(UNREADABLE)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.extend(notes.into_iter().map(Value::String));
        }
    }
}

/// The fields of `ev` that could not be read (see [`mark`]).
pub fn unreadable(ev: &CloudEvent) -> impl Iterator<Item = &str> {
    ev.extra
        .get(UNREADABLE)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_out_of_range_number_loses_only_itself() {
        let mut notes = Vec::new();
        let v = value(
            r#"{"groupId":"sg-1","x":{"big":1e999,"ok":2},"list":[1,1e999,3]}"#,
            "requestParameters",
            &mut notes,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"groupId":"sg-1","x":{"ok":2},"list":[1,null,3]})
        );
        assert_eq!(
            notes,
            vec![
                "requestParameters.x.big: number out of range".to_string(),
                "requestParameters.list.1: number out of range".to_string()
            ]
        );
    }

    #[test]
    fn nesting_past_the_limit_loses_only_that_member() {
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let text = format!(r#"{{"bucketName":"b","deep":{deep}}}"#);
        let mut notes = Vec::new();
        let v = value(&text, "requestParameters", &mut notes).unwrap();
        assert_eq!(v["bucketName"], "b");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("nested too deep"), "{notes:?}");
    }

    #[test]
    fn text_reads_numbers_and_names_objects() {
        #[derive(Deserialize)]
        struct R<'a> {
            #[serde(borrow)]
            a: Option<Text<'a>>,
            #[serde(borrow)]
            b: Option<Text<'a>>,
            #[serde(borrow)]
            c: Option<Text<'a>>,
        }
        let r: R<'_> = serde_json::from_str(r#"{"a":123456789012,"b":{"x":1},"c":"q\"s"}"#)
            .expect("lenient fields never fail");
        assert_eq!(text(r.a.as_ref()), Some("123456789012"));
        assert_eq!(text(r.b.as_ref()), None);
        assert_eq!(text(r.c.as_ref()), Some("q\"s"));
        let mut notes = Vec::new();
        check_text(r.b.as_ref(), "b", &mut notes);
        assert_eq!(
            notes,
            vec!["b: expected a string, found an object".to_string()]
        );
    }
}
