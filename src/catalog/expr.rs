//! Catalog expressions, compiled once: paths into the event (`request.ipPermissions.items[*]`),
//! string filters (`resource_name | segment_after:buckets`) and templates
//! (`"{request.roleName}/{request.policyArn}"`); a string in single quotes is a literal.

use std::borrow::Cow;

use serde_json::Value;

use crate::event::CloudEvent;

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Request,
    Response,
    Extra,
    ResourceName,
    Account,
    Region,
    Item,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Last,
    ArnName,
    SegmentAfter(String),
    StripPrefix(String),
    StripSuffix(String),
    Contains(String),
    NotContains(String),
    Lower,
    UrlDecode,
}

/// A compiled path expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    root: Root,
    segs: Vec<Seg>,
    filters: Vec<Filter>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A placeholder.
    Path(Path),
}

/// A compiled expression: a path or a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A path (may fan out over arrays).
    Path(Path),
    /// A template: literal text with `{path}` placeholders; yields one string.
    Template(Vec<Part>),
}

/// What the evaluator reads from: the event and, inside `foreach`, the current item.
pub struct Scope<'a> {
    /// The event.
    pub event: &'a CloudEvent,
    /// The `foreach` element, when inside one.
    pub item: Option<&'a Value>,
}

impl Expr {
    /// Compiles an expression; the error says what is wrong with it.
    pub fn parse(src: &str) -> Result<Expr, String> {
        // A quoted literal: a singleton's fixed id (`'iam-account-password-policy'`).
        if let Some(lit) = src
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .filter(|l| !l.is_empty())
        {
            return Ok(Expr::Template(vec![Part::Lit(lit.to_string())]));
        }
        if src.contains('{') {
            let mut parts = Vec::new();
            let mut rest = src;
            while let Some(open) = rest.find('{') {
                if open > 0 {
                    parts.push(Part::Lit(rest[..open].to_string()));
                }
                let close = rest[open..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed '{{' in template '{src}'"))?;
                parts.push(Part::Path(Path::parse(&rest[open + 1..open + close])?));
                rest = &rest[open + close + 1..];
            }
            if !rest.is_empty() {
                parts.push(Part::Lit(rest.to_string()));
            }
            Ok(Expr::Template(parts))
        } else {
            Ok(Expr::Path(Path::parse(src)?))
        }
    }

    /// Every value the expression yields (paths may fan out; templates yield at most one).
    #[must_use]
    pub fn eval(&self, scope: &Scope<'_>) -> Vec<Value> {
        match self {
            Expr::Path(p) => p.eval(scope),
            Expr::Template(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Lit(s) => out.push_str(s),
                        Part::Path(p) => match p.eval(scope).into_iter().next() {
                            Some(Value::String(s)) => out.push_str(&s),
                            Some(Value::Null) | None => return Vec::new(),
                            Some(other) => out.push_str(&other.to_string()),
                        },
                    }
                }
                vec![Value::String(out)]
            }
        }
    }

    /// The strings the expression yields (ids, match values); numbers and booleans printed
    /// (`egress: true` matches a state's `true`).
    #[must_use]
    pub fn eval_strings(&self, scope: &Scope<'_>) -> Vec<String> {
        self.eval(scope)
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect()
    }
}

/// CloudTrail keeps some services' member names as the API spells them (`InsightArn`) and
/// lower-cases the first letter for others (`insightArn`): a key missing in one spelling is
/// looked up in the other.
fn other_case_key<'v>(v: &'v Value, k: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    let mut chars = k.chars();
    let first = chars.next()?;
    let flipped: String = if first.is_ascii_lowercase() {
        first.to_ascii_uppercase()
    } else if first.is_ascii_uppercase() {
        first.to_ascii_lowercase()
    } else {
        return None;
    }
    .to_string()
        + chars.as_str();
    obj.get(&flipped)
}

impl Path {
    fn parse(src: &str) -> Result<Path, String> {
        let mut pieces = src.split('|');
        let path = pieces.next().unwrap_or_default().trim();
        let mut filters = Vec::new();
        for f in pieces {
            let f = f.trim();
            let (name, arg) = f.split_once(':').unwrap_or((f, ""));
            filters.push(match name {
                "last" => Filter::Last,
                "arn_name" => Filter::ArnName,
                "segment_after" if !arg.is_empty() => Filter::SegmentAfter(arg.to_string()),
                "strip_prefix" if !arg.is_empty() => Filter::StripPrefix(arg.to_string()),
                "strip_suffix" if !arg.is_empty() => Filter::StripSuffix(arg.to_string()),
                "contains" if !arg.is_empty() => Filter::Contains(arg.to_string()),
                "not_contains" if !arg.is_empty() => Filter::NotContains(arg.to_string()),
                "lower" => Filter::Lower,
                "url_decode" => Filter::UrlDecode,
                _ => return Err(format!("unknown filter '{f}' in '{src}' (known: last, arn_name, segment_after:X, strip_prefix:X, strip_suffix:X, contains:X, not_contains:X, lower, url_decode)")),
            });
        }
        let mut segs_iter = path.split('.');
        let root = match segs_iter.next().unwrap_or_default() {
            "request" => Root::Request,
            "response" => Root::Response,
            "extra" => Root::Extra,
            "resource_name" => Root::ResourceName,
            "item" => Root::Item,
            "event" => match segs_iter.next() {
                Some("account") => Root::Account,
                Some("region") => Root::Region,
                other => {
                    return Err(format!(
                        "unknown event field '{}' in '{src}' (known: event.account, event.region)",
                        other.unwrap_or_default()
                    ));
                }
            },
            other => {
                return Err(format!(
                    "unknown root '{other}' in '{src}' (known: request, response, extra, resource_name, event, item)"
                ));
            }
        };
        let mut segs = Vec::new();
        for raw in segs_iter {
            let (key, all) = match raw.strip_suffix("[*]") {
                Some(k) => (k, true),
                None => (raw, false),
            };
            if key.is_empty() && !all {
                return Err(format!("empty path segment in '{src}'"));
            }
            if !key.is_empty() {
                match key.parse::<usize>() {
                    Ok(i) => segs.push(Seg::Index(i)),
                    Err(_) => segs.push(Seg::Key(key.to_string())),
                }
            }
            if all {
                segs.push(Seg::All);
            }
        }
        Ok(Path {
            root,
            segs,
            filters,
        })
    }

    fn eval(&self, scope: &Scope<'_>) -> Vec<Value> {
        let ev = scope.event;
        let owned;
        let start: &Value = match self.root {
            Root::Request => &ev.request,
            Root::Response => &ev.response,
            Root::Extra => &ev.extra,
            Root::Item => scope.item.unwrap_or(&Value::Null),
            Root::ResourceName | Root::Account | Root::Region => {
                let s = match self.root {
                    Root::ResourceName => ev.resource_name.as_deref(),
                    Root::Account => ev.account.as_deref(),
                    _ => ev.region.as_deref(),
                };
                owned = s.map_or(Value::Null, |s| Value::String(s.to_string()));
                &owned
            }
        };
        let mut current: Vec<&Value> = vec![start];
        for seg in &self.segs {
            let mut next = Vec::with_capacity(current.len());
            for v in current {
                match seg {
                    Seg::Key(k) => {
                        if let Some(x) = v.get(k.as_str()).or_else(|| other_case_key(v, k)) {
                            next.push(x);
                        }
                    }
                    Seg::Index(i) => {
                        if let Some(x) = v.get(*i) {
                            next.push(x);
                        }
                    }
                    Seg::All => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(o) => next.extend(o.values()),
                        _ => {}
                    },
                }
            }
            current = next;
        }
        current
            .into_iter()
            .filter(|v| !v.is_null())
            .filter_map(|v| self.apply_filters(v))
            .collect()
    }

    fn apply_filters(&self, v: &Value) -> Option<Value> {
        if self.filters.is_empty() {
            return Some(v.clone());
        }
        let mut s: Cow<'_, str> = match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Number(n) => Cow::Owned(n.to_string()),
            _ => return None,
        };
        for f in &self.filters {
            s = match f {
                Filter::Last => Cow::Owned(s.rsplit('/').next().unwrap_or_default().to_string()),
                Filter::ArnName => {
                    Cow::Owned(s.rsplit(['/', ':']).next().unwrap_or_default().to_string())
                }
                Filter::SegmentAfter(marker) => {
                    let mut it = s.split('/');
                    let found = it.by_ref().any(|p| p == marker);
                    let seg = if found { it.next() } else { None };
                    Cow::Owned(seg?.to_string())
                }
                Filter::StripPrefix(p) => {
                    Cow::Owned(s.strip_prefix(p.as_str()).unwrap_or(&s).to_string())
                }
                Filter::StripSuffix(p) => {
                    Cow::Owned(s.strip_suffix(p.as_str()).unwrap_or(&s).to_string())
                }
                // Keeps the value only when it contains the marker (an ARN's resource kind):
                // tells apart ids of several types in one field without guessing.
                Filter::Contains(marker) => {
                    if !s.contains(marker.as_str()) {
                        return None;
                    }
                    s
                }
                // The opposite: a key ring's name is a prefix of its keys' names.
                Filter::NotContains(marker) => {
                    if s.contains(marker.as_str()) {
                        return None;
                    }
                    s
                }
                Filter::Lower => Cow::Owned(s.to_lowercase()),
                Filter::UrlDecode => Cow::Owned(
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8_lossy()
                        .into_owned(),
                ),
            };
        }
        (!s.is_empty()).then(|| Value::String(s.into_owned()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_match_in_either_first_letter_case() {
        let mut ev = crate::event::CloudEvent::new(crate::event::Provider::Aws);
        ev.response = serde_json::json!({"InsightArn": "arn:a", "name": "n"});
        let scope = Scope {
            event: &ev,
            item: None,
        };
        let get = |src: &str| Expr::parse(src).unwrap().eval_strings(&scope);
        assert_eq!(get("response.insightArn"), vec!["arn:a"]);
        assert_eq!(get("response.Name"), vec!["n"]);
        assert!(get("response.other").is_empty());
    }

    use super::*;
    use crate::event::Provider;
    use serde_json::json;

    fn event() -> CloudEvent {
        let mut ev = CloudEvent::new(Provider::Aws);
        ev.request = json!({"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "resourcesSet": {"items": [{"resourceId": "i-1"}, {"resourceId": "sg-2"}]}});
        ev.resource_name = Some("projects/_/buckets/my-bucket/objects/o".into());
        ev
    }

    #[test]
    fn paths_fan_out_and_filter() {
        let ev = event();
        let scope = Scope {
            event: &ev,
            item: None,
        };
        let e = Expr::parse("request.resourcesSet.items[*].resourceId").unwrap();
        assert_eq!(e.eval_strings(&scope), ["i-1", "sg-2"]);
        let e = Expr::parse("resource_name | segment_after:buckets").unwrap();
        assert_eq!(e.eval_strings(&scope), ["my-bucket"]);
        let e = Expr::parse("request.policyArn | arn_name").unwrap();
        assert_eq!(e.eval_strings(&scope), ["ReadOnlyAccess"]);
        let e = Expr::parse("resource_name | contains:/objects/").unwrap();
        assert_eq!(e.eval_strings(&scope).len(), 1);
        let e = Expr::parse("resource_name | not_contains:/objects/").unwrap();
        assert!(e.eval_strings(&scope).is_empty());
        let e = Expr::parse("resource_name | not_contains:/topics/ | last").unwrap();
        assert_eq!(e.eval_strings(&scope), ["o"]);
    }

    #[test]
    fn templates_need_every_part() {
        let ev = event();
        let scope = Scope {
            event: &ev,
            item: None,
        };
        let e = Expr::parse("{request.roleName}/{request.policyArn}").unwrap();
        assert_eq!(
            e.eval_strings(&scope),
            ["r/arn:aws:iam::aws:policy/ReadOnlyAccess"]
        );
        let e = Expr::parse("{request.missing}/x").unwrap();
        assert!(e.eval_strings(&scope).is_empty());
    }

    #[test]
    fn bad_expressions_are_reported() {
        assert!(
            Expr::parse("requst.x")
                .unwrap_err()
                .contains("unknown root")
        );
        assert!(
            Expr::parse("request.x | nope")
                .unwrap_err()
                .contains("unknown filter")
        );
        assert!(Expr::parse("{request.x").unwrap_err().contains("unclosed"));
    }
}
