//! Compiling condition and pattern nodes: operators, regexes, globs, CIDRs, templates.
//!
//! Each function reports problems into the [`Parser`]'s diagnostics and returns `None` for the
//! broken piece, so one pass finds every problem in a file.

use super::diag::{Code, Diagnostic, suggestion_suffix};
use super::model::Glob;
use super::model::{
    AttrPath, Condition, FIELD_NAMES, Field, IdentityPattern, Leaf, OPERATOR_NAMES, Operator, Side,
    Target,
};
use super::parse::Parser;
use super::template::{LEGACY_ALIASES, Template, TemplateIssue, VAR_NAMES};
use super::yaml::{Node, NodeKind};
use globset::GlobBuilder;
use ipnet::IpNet;
use serde_json::Value;

const CONDITION_KEYS: &[&str] = &[
    "attribute",
    "field",
    "operator",
    "value",
    "from",
    "to",
    "on",
    "any",
    "all",
];
const IDENTITY_KEYS: &[&str] = &[
    "type",
    "principal_id",
    "arn",
    "email",
    "principal_email",
    "session",
    "user_agent",
    "source_ip",
    "via",
];

impl Parser<'_> {
    /// A list of conditions (`conditions:`, `any:`, `all:`).
    pub(crate) fn conditions(&mut self, node: &Node, path: &str) -> Vec<Condition> {
        let Some(items) = self.seq(node, path) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.condition(item, &format!("{path}[{i}]")))
            .collect()
    }

    fn condition(&mut self, node: &Node, path: &str) -> Option<Condition> {
        let entries = self.map(node, path)?;
        self.check_keys(entries, CONDITION_KEYS, path);
        for group in ["any", "all"] {
            if let Some(list) = node.get(group) {
                if let Some((k, _)) = entries.iter().find(|(k, _)| k.name != group) {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            k.pos,
                            Code::UnknownKey,
                            format!("'{}' cannot be combined with '{group}' in {path}", k.name),
                        )
                        .with_hint(format!("put the conditions inside the '{group}' list")),
                    );
                }
                let inner = self.conditions(list, &format!("{path}.{group}"));
                if inner.is_empty() {
                    self.push(Diagnostic::error(
                        self.file,
                        list.pos,
                        Code::BadValue,
                        format!("'{group}' needs at least one condition"),
                    ));
                    return None;
                }
                return Some(if group == "any" {
                    Condition::Any(inner)
                } else {
                    Condition::All(inner)
                });
            }
        }
        let target = match (node.get("attribute"), node.get("field")) {
            (Some(a), None) => {
                let text = self.string(a, &format!("{path}.attribute"))?;
                if text.is_empty() || text.split('.').any(str::is_empty) {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            a.pos,
                            Code::BadValue,
                            format!("attribute path '{text}' has an empty segment"),
                        )
                        .with_hint(
                            "write paths like 'ingress.*.cidr_blocks' or 'tags.Environment'",
                        ),
                    );
                    return None;
                }
                Target::Attribute(AttrPath::parse(&text))
            }
            (None, Some(f)) => {
                let text = self.string(f, &format!("{path}.field"))?;
                let Some(field) = Field::parse(&text) else {
                    let names = FIELD_NAMES.iter().map(|(n, _)| *n);
                    self.push(
                        Diagnostic::error(
                            self.file,
                            f.pos,
                            Code::UnknownField,
                            format!("unknown field '{text}'{}", suggestion_suffix(&text, names)),
                        )
                        .with_hint(format!(
                            "fields: {}",
                            FIELD_NAMES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    return None;
                };
                Target::Field(field)
            }
            (Some(_), Some(f)) => {
                self.push(
                    Diagnostic::error(
                        self.file,
                        f.pos,
                        Code::BadValue,
                        format!("{path} has both 'attribute' and 'field'"),
                    )
                    .with_hint("a condition tests one thing; split it in two"),
                );
                return None;
            }
            (None, None) => {
                self.push(Diagnostic::error(
                    self.file,
                    node.pos,
                    Code::MissingKey,
                    format!("{path} needs 'attribute', 'field', 'any' or 'all'"),
                ));
                return None;
            }
        };
        let Some(op_node) = node.get("operator") else {
            self.push(
                Diagnostic::error(
                    self.file,
                    node.pos,
                    Code::MissingKey,
                    format!("{path} has no 'operator'"),
                )
                .with_hint(format!("operators: {}", OPERATOR_NAMES.join(", "))),
            );
            return None;
        };
        let op_name = self.string(op_node, &format!("{path}.operator"))?;
        if !OPERATOR_NAMES.contains(&op_name.as_str()) {
            self.push(
                Diagnostic::error(
                    self.file,
                    op_node.pos,
                    Code::UnknownOperator,
                    format!(
                        "unknown operator '{op_name}'{}",
                        suggestion_suffix(&op_name, OPERATOR_NAMES.iter().copied())
                    ),
                )
                .with_hint(format!("operators: {}", OPERATOR_NAMES.join(", "))),
            );
            return None;
        }
        let mut ok = true;
        if op_name != "changed" {
            for key in ["from", "to"] {
                if let Some((k, _)) = entries.iter().find(|(k, _)| k.name == key) {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            k.pos,
                            Code::FromToWithoutChanged,
                            format!("'{key}' only applies to operator 'changed', not '{op_name}'"),
                        )
                        .with_hint(
                            "use 'operator: changed' with from/to, or 'value:' with this operator",
                        ),
                    );
                    ok = false;
                }
            }
        }
        let side = match node.get("on") {
            None => Side::Observed,
            Some(on) => match (on.as_str(), &target) {
                (Some("observed"), Target::Attribute(_)) => Side::Observed,
                (Some("state"), Target::Attribute(_)) => Side::State,
                (_, Target::Field(_)) => {
                    self.push(Diagnostic::error(
                        self.file,
                        on.pos,
                        Code::BadValue,
                        "'on' only applies to attribute conditions",
                    ));
                    return None;
                }
                _ => {
                    self.push(Diagnostic::error(
                        self.file,
                        on.pos,
                        Code::BadValue,
                        format!("'on' must be 'observed' or 'state', not {}", describe(on)),
                    ));
                    return None;
                }
            },
        };
        let op = self.operator(&op_name, node, op_node, &target)?;
        ok.then_some(Condition::Leaf(Leaf { target, op, side }))
    }

    fn operator(
        &mut self,
        name: &str,
        node: &Node,
        op_node: &Node,
        target: &Target,
    ) -> Option<Operator> {
        let value = node.get("value");
        let needs_value = !matches!(name, "changed" | "exists" | "absent");
        if !needs_value && let Some(v) = value {
            self.push(
                Diagnostic::error(
                    self.file,
                    v.pos,
                    Code::BadValue,
                    format!("operator '{name}' takes no 'value'"),
                )
                .with_opt_hint(
                    (name == "changed")
                        .then(|| "use 'from:' / 'to:' to constrain a change".to_owned()),
                ),
            );
            return None;
        }
        let v = if needs_value {
            let Some(v) = value else {
                self.push(Diagnostic::error(
                    self.file,
                    op_node.pos,
                    Code::MissingKey,
                    format!("operator '{name}' needs a 'value'"),
                ));
                return None;
            };
            Some(v)
        } else {
            None
        };
        let text = |p: &mut Self, v: &Node| -> Option<String> {
            let t = v.scalar_text();
            if t.is_none() {
                p.push(Diagnostic::error(
                    p.file,
                    v.pos,
                    Code::WrongType,
                    format!(
                        "operator '{name}' needs a single value, found a {}",
                        v.type_name()
                    ),
                ));
            }
            t
        };
        Some(match (name, v) {
            ("changed", _) => {
                if matches!(target, Target::Field(_)) {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            op_node.pos,
                            Code::BadValue,
                            "operator 'changed' applies to attributes, not alert fields",
                        )
                        .with_hint("use 'equals' (or another value operator) on a field"),
                    );
                    return None;
                }
                Operator::Changed {
                    from: node.get("from").map(Node::to_json),
                    to: node.get("to").map(Node::to_json),
                }
            }
            ("exists", _) => Operator::Exists,
            ("absent", _) => Operator::Absent,
            ("equals", Some(v)) => Operator::Equals(v.to_json()),
            ("not_equals", Some(v)) => Operator::NotEquals(v.to_json()),
            ("contains", Some(v)) => Operator::Contains(v.to_json()),
            ("in" | "not_in", Some(v)) => {
                let Value::Array(list) = v.to_json() else {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            v.pos,
                            Code::BadValue,
                            format!(
                                "operator '{name}' needs a list 'value', found a {}",
                                v.type_name()
                            ),
                        )
                        .with_hint("write value: [a, b]"),
                    );
                    return None;
                };
                if name == "in" {
                    Operator::In(list)
                } else {
                    Operator::NotIn(list)
                }
            }
            ("matches", Some(v)) => {
                let pattern = text(self, v)?;
                match regex::Regex::new(&pattern) {
                    Ok(re) => Operator::Matches(re),
                    Err(e) => {
                        let detail = e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or_default()
                            .trim()
                            .to_owned();
                        self.push(Diagnostic::error(self.file, v.pos, Code::BadRegex, format!("invalid regex '{pattern}': {detail}"))
                            .with_hint("regex syntax is Rust's `regex` crate (no look-around or backreferences)"));
                        return None;
                    }
                }
            }
            ("glob", Some(v)) => Operator::Glob(self.glob(v)?),
            ("gt" | "lt", Some(v)) => {
                let Some(n) = super::value::as_number(&v.to_json()) else {
                    self.push(Diagnostic::error(
                        self.file,
                        v.pos,
                        Code::BadValue,
                        format!("operator '{name}' needs a number, found {}", describe(v)),
                    ));
                    return None;
                };
                if name == "gt" {
                    Operator::Gt(n)
                } else {
                    Operator::Lt(n)
                }
            }
            ("cidr_contains", Some(v)) => {
                let t = text(self, v)?;
                let parsed = t
                    .parse::<IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from));
                if let Ok(net) = parsed {
                    Operator::CidrContains(net)
                } else {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            v.pos,
                            Code::BadCidr,
                            format!("'{t}' is not a CIDR or IP address"),
                        )
                        .with_hint("e.g. 0.0.0.0/0 or ::/0"),
                    );
                    return None;
                }
            }
            _ => return None,
        })
    }

    /// A glob from a scalar node (`*` also matches `/`, so ARNs and addresses glob naturally).
    pub(crate) fn glob(&mut self, node: &Node) -> Option<Glob> {
        let Some(text) = node.scalar_text() else {
            self.push(Diagnostic::error(
                self.file,
                node.pos,
                Code::WrongType,
                format!("expected a glob string, found a {}", node.type_name()),
            ));
            return None;
        };
        match GlobBuilder::new(&text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
        {
            Ok(g) => Some(Glob::new(&text, g.compile_matcher())),
            Err(e) => {
                self.push(Diagnostic::error(
                    self.file,
                    node.pos,
                    Code::BadGlob,
                    format!("invalid glob '{text}': {}", e.kind()),
                ));
                None
            }
        }
    }

    /// `user_identity:` block.
    pub(crate) fn identity(&mut self, node: &Node, path: &str) -> Option<IdentityPattern> {
        let entries = self.map(node, path)?;
        self.check_keys(entries, IDENTITY_KEYS, path);
        let mut parts = Vec::new();
        for (k, v) in entries {
            let field = match k.name.as_str() {
                "type" => Field::ActorType,
                "principal_id" => Field::ActorPrincipal,
                "arn" => Field::ActorArn,
                "email" | "principal_email" => Field::ActorEmail,
                "session" => Field::ActorSession,
                "user_agent" => Field::ActorUserAgent,
                "source_ip" => Field::ActorSourceIp,
                "via" => Field::ActorVia,
                _ => continue,
            };
            if let Some(g) = self.glob(v) {
                parts.push((field, g));
            }
        }
        if parts.is_empty() {
            self.push(
                Diagnostic::error(
                    self.file,
                    node.pos,
                    Code::MissingKey,
                    format!("{path} names no identity field"),
                )
                .with_hint(format!("use one of: {}", IDENTITY_KEYS.join(", "))),
            );
            return None;
        }
        Some(IdentityPattern { parts })
    }

    /// A template string; unknown names are errors, legacy aliases warnings.
    pub(crate) fn template(&mut self, node: &Node, path: &str) -> Option<Template> {
        let text = self.string(node, path)?;
        let (t, issues) = Template::parse(&text);
        let known = || {
            VAR_NAMES
                .iter()
                .map(|(n, _)| *n)
                .chain(LEGACY_ALIASES.iter().map(|(n, _)| *n))
        };
        for issue in issues {
            match issue {
                TemplateIssue::Unknown { name, .. } => {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            node.pos,
                            Code::UnknownTemplateField,
                            format!(
                                "template names unknown field '{{{name}}}'{}",
                                suggestion_suffix(&name, known())
                            ),
                        )
                        .with_hint(format!(
                            "fields: {}",
                            VAR_NAMES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
                TemplateIssue::Legacy {
                    name, canonical, ..
                } => {
                    self.push(
                        Diagnostic::warning(
                            self.file,
                            node.pos,
                            Code::LegacyTemplateAlias,
                            format!("'{{{name}}}' is a legacy alias of '{{{canonical}}}'"),
                        )
                        .with_hint(format!("write '{{{canonical}}}'")),
                    );
                }
                TemplateIssue::Unclosed { offset } => {
                    self.push(
                        Diagnostic::error(
                            self.file,
                            node.pos,
                            Code::UnknownTemplateField,
                            format!("unclosed '{{' at character {} of the template", offset + 1),
                        )
                        .with_hint("write '{{' for a literal brace"),
                    );
                }
            }
        }
        Some(t)
    }
}

/// `'x'` for scalars, `a list` for collections.
pub(crate) fn describe(node: &Node) -> String {
    match &node.kind {
        NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Null => format!("a {}", node.type_name()),
        _ => format!("'{}'", node.scalar_text().unwrap_or_default()),
    }
}
