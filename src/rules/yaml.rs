//! A position-carrying YAML tree, read with serde-saphyr.
//!
//! Rule files are first read into this generic tree (every node and key knows its line and
//! column) and only then interpreted, so one pass can report *every* problem in a file — unknown
//! keys, wrong types, bad operators — instead of stopping at serde's first error.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Largest rule or test file we read; anything bigger is reported, not parsed.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A 1-based line and column in a rule file (0:0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub column: u32,
}

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// The value.
    pub kind: NodeKind,
}

/// A node's value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float (or an integer too big for i64).
    Float(f64),
    /// String.
    Str(String),
    /// Sequence.
    Seq(Vec<Node>),
    /// Mapping, in file order; keys are rendered to strings.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as text.
    pub name: String,
    /// Where the key is.
    pub pos: Pos,
}

impl Node {
    /// Short name of the node's type, for "expected X, found Y" messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "number",
            NodeKind::Str(_) => "string",
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "mapping",
        }
    }

    /// The string, when the node is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar rendered as text (strings, numbers, booleans); `None` for null and collections.
    #[must_use]
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    /// Value under `key` when the node is a mapping.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts the node to JSON (used for condition values and test alerts).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn pos_of(loc: serde_saphyr::Location) -> Pos {
    Pos {
        line: u32::try_from(loc.line()).unwrap_or(0),
        column: u32::try_from(loc.column()).unwrap_or(0),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeKind>::deserialize(deserializer)?;
        Ok(Node {
            pos: pos_of(spanned.referenced),
            kind: spanned.value,
        })
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(NodeKind::Float(v as f64), NodeKind::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeKind, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(NodeKind::Float(v as f64), NodeKind::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeKind, E> {
        #[allow(clippy::cast_precision_loss)]
        Ok(i64::try_from(v).map_or(NodeKind::Float(v as f64), NodeKind::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(KindVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let name = key.scalar_text().unwrap_or_else(|| {
                if matches!(key.kind, NodeKind::Null) {
                    "null".to_owned()
                } else {
                    format!("<{} key>", key.type_name())
                }
            });
            let value = map.next_value::<Node>()?;
            entries.push((Key { name, pos: key.pos }, value));
        }
        Ok(NodeKind::Map(entries))
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

/// A YAML read failure with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// Where the parser stopped (0:0 when unknown).
    pub pos: Pos,
    /// What went wrong.
    pub message: String,
}

/// Reads one YAML document into a [`Node`] with tight budgets: alias expansion, depth, node count
/// and size are capped so hostile files fail fast instead of exhausting memory. Never panics.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError {
            pos: Pos { line: 1, column: 1 },
            message: format!(
                "file is {} bytes, more than the {MAX_FILE_BYTES}-byte limit",
                text.len()
            ),
        });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 48,
            max_nodes: 200_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_documents: 1,
            max_events: 500_000,
            max_total_scalar_bytes: 8 * 1024 * 1024,
            max_recorded_anchor_events: 100_000,
            max_recorded_anchor_bytes: 4 * 1024 * 1024,
            max_merge_keys: 1_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 1_000,
        },
        strict_booleans: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(Some(node)) => Ok(node),
        Ok(None) => Ok(Node {
            pos: Pos { line: 1, column: 1 },
            kind: NodeKind::Null,
        }),
        Err(e) => {
            let pos = e.location().map(pos_of).unwrap_or_default();
            let message = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .to_owned();
            Err(YamlError { pos, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_carry_positions() {
        let n = parse("rules:\n  - id: a\n    on: state\n    n: 3\n").unwrap();
        let rules = n.get("rules").unwrap();
        let NodeKind::Seq(items) = &rules.kind else {
            panic!("not a seq")
        };
        let NodeKind::Map(entries) = &items[0].kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.name, "id");
        assert_eq!(entries[0].0.pos, Pos { line: 2, column: 5 });
        assert_eq!(entries[0].1.pos, Pos { line: 2, column: 9 });
        // `on` stays a string key with strict booleans.
        assert_eq!(entries[1].0.name, "on");
        assert_eq!(entries[1].1.as_str(), Some("state"));
        assert_eq!(entries[2].1.kind, NodeKind::Int(3));
    }

    #[test]
    fn syntax_errors_tabs_and_bombs_are_errors() {
        assert!(parse("a: [1, 2\n").is_err());
        assert!(parse("a:\n\t- b\n").is_err());
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert!(parse(bomb).is_err());
        let deep = "[".repeat(500);
        assert!(parse(&deep).is_err());
        assert!(parse(&"x".repeat(MAX_FILE_BYTES + 1)).is_err());
        assert_eq!(parse("").unwrap().kind, NodeKind::Null);
    }
}
