//! Reading a rule file: YAML tree → rules, ignore entries and rule tests, with diagnostics.
//!
//! Layout of a file: `rules:` (list), `ignore:` (list), `tests:` (list of tests naming their
//! `rule:`; this is also the shape of a sibling `*.tests.yaml`), optional `version:`.

use super::diag::{Code, Diagnostic, suggestion_suffix};
use super::model::{ACTION_TYPES, Action, Filter, IgnoreEntry, Rule, TypePattern};
use super::rule_tests::{RuleTest, parse_test};
use super::types::check_type;
use super::yaml::{self, Key, Node, NodeKind};
use crate::alert::Severity;

const TOP_KEYS: &[&str] = &["version", "rules", "ignore", "tests"];
const RULE_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "enabled",
    "resource_types",
    "conditions",
    "severity",
    "filters",
    "actions",
    "remediation",
    "runbook",
    "tests",
];
const FILTER_KEYS: &[&str] = &["user_identity", "action"];
const IGNORE_KEYS: &[&str] = &[
    "id",
    "reason",
    "address",
    "type",
    "resource_type",
    "attribute",
    "user_identity",
    "expires",
];

/// What one file yields.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub rules: Vec<Rule>,
    pub ignores: Vec<IgnoreEntry>,
    pub tests: Vec<RuleTest>,
    pub diags: Vec<Diagnostic>,
    /// Every rule id seen (valid rule or not) with its position, for duplicate detection.
    pub rule_ids: Vec<(String, yaml::Pos)>,
    /// The file name.
    pub file: String,
}

/// Per-file parsing state.
pub(crate) struct Parser<'a> {
    pub file: &'a str,
    pub diags: Vec<Diagnostic>,
    /// Channels configured in the profile; `None` skips the unknown-channel check.
    known_channels: Option<&'a [String]>,
}

impl Parser<'_> {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [(Key, Node)]> {
        if let NodeKind::Map(entries) = &node.kind {
            Some(entries)
        } else {
            self.push(Diagnostic::error(
                self.file,
                node.pos,
                Code::WrongType,
                format!("{path} must be a mapping, found a {}", node.type_name()),
            ));
            None
        }
    }

    pub(crate) fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        if let NodeKind::Seq(items) = &node.kind {
            Some(items)
        } else {
            self.push(Diagnostic::error(
                self.file,
                node.pos,
                Code::WrongType,
                format!("{path} must be a list, found a {}", node.type_name()),
            ));
            None
        }
    }

    pub(crate) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        if let Some(s) = node.as_str() {
            Some(s.to_owned())
        } else {
            self.push(Diagnostic::error(
                self.file,
                node.pos,
                Code::WrongType,
                format!("{path} must be a string, found a {}", node.type_name()),
            ));
            None
        }
    }

    pub(crate) fn check_keys(&mut self, entries: &[(Key, Node)], allowed: &[&str], path: &str) {
        for (k, _) in entries {
            if !allowed.contains(&k.name.as_str()) {
                self.push(
                    Diagnostic::error(
                        self.file,
                        k.pos,
                        Code::UnknownKey,
                        format!(
                            "unknown key '{}' in {path}{}",
                            k.name,
                            suggestion_suffix(&k.name, allowed.iter().copied())
                        ),
                    )
                    .with_hint(format!("allowed keys: {}", allowed.join(", "))),
                );
            }
        }
    }

    pub(crate) fn required<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        path: &str,
    ) -> Option<&'n Node> {
        let v = node.get(key);
        if v.is_none() {
            self.push(Diagnostic::error(
                self.file,
                node.pos,
                Code::MissingKey,
                format!("{path} has no '{key}'"),
            ));
        }
        v
    }
}

/// Parses one file's text.
pub(crate) fn parse_text(file: &str, text: &str, known_channels: Option<&[String]>) -> Parsed {
    let mut p = Parser {
        file,
        diags: Vec::new(),
        known_channels,
    };
    let mut out = Parsed {
        file: file.to_owned(),
        ..Parsed::default()
    };
    if text.contains('\t')
        && let Some((line, col)) = tab_position(text)
    {
        p.push(
            Diagnostic::error(
                file,
                yaml::Pos { line, column: col },
                Code::YamlSyntax,
                "tab character in indentation",
            )
            .with_hint("YAML indentation must use spaces"),
        );
        out.diags = p.diags;
        return out;
    }
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            p.push(
                Diagnostic::error(file, e.pos, Code::YamlSyntax, e.message).with_hint(
                    "fix the YAML syntax (spaces, not tabs; balanced brackets and quotes)",
                ),
            );
            out.diags = p.diags;
            return out;
        }
    };
    if matches!(root.kind, NodeKind::Null) {
        out.diags = p.diags;
        return out;
    }
    // `*.tests.yaml` files hold tests only; they are never rule files.
    let is_tests_file = file.ends_with(".tests.yaml") || file.ends_with(".tests.yml");
    let top_keys: &[&str] = if is_tests_file { &["tests"] } else { TOP_KEYS };
    if let Some(entries) = p.map(&root, "the file") {
        p.check_keys(entries, top_keys, "the file");
    }
    if is_tests_file && (root.get("rules").is_some() || root.get("ignore").is_some()) {
        out.diags = p.diags;
        return out;
    }
    if let Some(rules) = root.get("rules").and_then(|n| p.seq(n, "rules")) {
        for (i, node) in rules.iter().enumerate() {
            if let Some((rule, tests)) = parse_rule(&mut p, node, i, &mut out.rule_ids) {
                out.tests.extend(tests);
                out.rules.push(rule);
            }
        }
    }
    if let Some(list) = root.get("ignore").and_then(|n| p.seq(n, "ignore")) {
        for (i, node) in list.iter().enumerate() {
            if let Some(entry) = parse_ignore(&mut p, node, i) {
                out.ignores.push(entry);
            }
        }
    }
    if let Some(list) = root.get("tests").and_then(|n| p.seq(n, "tests")) {
        for (i, node) in list.iter().enumerate() {
            if let Some(t) = parse_test(&mut p, node, &format!("tests[{i}]"), None, None) {
                out.tests.push(t);
            }
        }
    }
    out.diags = p.diags;
    out
}

/// First tab used in indentation (before any non-space on its line), 1-based.
fn tab_position(text: &str) -> Option<(u32, u32)> {
    for (i, line) in text.lines().enumerate() {
        for (j, c) in line.chars().enumerate() {
            match c {
                '\t' => return Some((u32::try_from(i + 1).ok()?, u32::try_from(j + 1).ok()?)),
                ' ' | '-' => {}
                _ => break,
            }
        }
    }
    None
}

fn parse_rule(
    p: &mut Parser,
    node: &Node,
    index: usize,
    ids: &mut Vec<(String, yaml::Pos)>,
) -> Option<(Rule, Vec<RuleTest>)> {
    let path = format!("rules[{index}]");
    let entries = p.map(node, &path)?;
    let id = p
        .required(node, "id", &path)
        .and_then(|n| p.string(n, &format!("{path}.id")));
    if let Some(id) = &id {
        // Recorded even when the rule is broken, so duplicates are reported alongside.
        ids.push((id.clone(), node.pos));
    }
    let path = id.as_ref().map_or(path, |id| format!("rule '{id}'"));
    p.check_keys(entries, RULE_KEYS, &path);
    let name = node
        .get("name")
        .and_then(|n| p.string(n, &format!("{path}.name")));
    let description = node
        .get("description")
        .and_then(|n| p.string(n, &format!("{path}.description")))
        .unwrap_or_default();
    let enabled = match node.get("enabled") {
        None => true,
        Some(n) => {
            if let NodeKind::Bool(b) = n.kind {
                b
            } else {
                p.push(Diagnostic::error(
                    p.file,
                    n.pos,
                    Code::WrongType,
                    format!(
                        "{path}.enabled must be true or false, found a {}",
                        n.type_name()
                    ),
                ));
                true
            }
        }
    };
    let severity = p.required(node, "severity", &path).and_then(|n| {
        let text = p.string(n, &format!("{path}.severity"))?;
        let s = Severity::parse(&text);
        if s.is_none() {
            let names = ["critical", "high", "medium", "low", "info"];
            p.push(
                Diagnostic::error(
                    p.file,
                    n.pos,
                    Code::BadSeverity,
                    format!(
                        "unknown severity '{text}'{}",
                        suggestion_suffix(&text.to_ascii_lowercase(), names)
                    ),
                )
                .with_hint("severity is one of critical, high, medium, low, info"),
            );
        }
        s
    });
    let mut resource_types = Vec::new();
    if let Some(list) = node
        .get("resource_types")
        .and_then(|n| p.seq(n, &format!("{path}.resource_types")))
    {
        for t in list {
            let Some(text) = p.string(t, &format!("{path}.resource_types[]")) else {
                continue;
            };
            if text.contains(['*', '?', '[', '{']) {
                if let Some(g) = p.glob(t) {
                    resource_types.push(TypePattern::Glob(g));
                }
            } else {
                if let Some(d) = check_type(p.file, t.pos, &text) {
                    p.push(d);
                }
                resource_types.push(TypePattern::Exact(text));
            }
        }
    }
    let conditions = node
        .get("conditions")
        .map(|n| p.conditions(n, &format!("{path}.conditions")))
        .unwrap_or_default();
    let filters = node
        .get("filters")
        .map(|n| parse_filters(p, n, &path))
        .unwrap_or_default();
    let actions = node
        .get("actions")
        .map(|n| parse_actions(p, n, &path))
        .unwrap_or_default();
    let remediation = match node.get("remediation") {
        None => Vec::new(),
        Some(n) if n.as_str().is_some() => p
            .template(n, &format!("{path}.remediation"))
            .into_iter()
            .collect(),
        Some(n) => p
            .seq(n, &format!("{path}.remediation"))
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| p.template(i, &format!("{path}.remediation[]")))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let runbook = node
        .get("runbook")
        .and_then(|n| p.template(n, &format!("{path}.runbook")));
    let default_type = resource_types.iter().find_map(|t| match t {
        TypePattern::Exact(s) => Some(s.as_str()),
        TypePattern::Glob(_) => None,
    });
    let mut tests = Vec::new();
    if let Some(list) = node
        .get("tests")
        .and_then(|n| p.seq(n, &format!("{path}.tests")))
    {
        for (i, t) in list.iter().enumerate() {
            if let Some(t) = parse_test(
                p,
                t,
                &format!("{path}.tests[{i}]"),
                id.as_deref(),
                default_type,
            ) {
                tests.push(t);
            }
        }
    }
    let (id, severity) = (id?, severity?);
    if !enabled {
        return None;
    }
    let rule = Rule {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        description,
        severity,
        resource_types,
        conditions,
        filters,
        actions,
        remediation,
        runbook,
        file: p.file.to_owned(),
        pos: node.pos,
    };
    Some((rule, tests))
}

fn parse_filters(p: &mut Parser, node: &Node, path: &str) -> Vec<Filter> {
    let Some(items) = p.seq(node, &format!("{path}.filters")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let fpath = format!("{path}.filters[{i}]");
        let Some(entries) = p.map(item, &fpath) else {
            continue;
        };
        p.check_keys(entries, FILTER_KEYS, &fpath);
        if let Some(action) = p.required(item, "action", &fpath)
            && let Some(a) = p.string(action, &format!("{fpath}.action"))
            && a != "skip"
        {
            p.push(
                Diagnostic::error(
                    p.file,
                    action.pos,
                    Code::UnknownAction,
                    format!("unknown filter action '{a}'"),
                )
                .with_hint("the only filter action is 'skip'"),
            );
        }
        if let Some(identity) = p
            .required(item, "user_identity", &fpath)
            .and_then(|n| p.identity(n, &format!("{fpath}.user_identity")))
        {
            out.push(Filter { identity });
        }
    }
    out
}

fn parse_actions(p: &mut Parser, node: &Node, path: &str) -> Vec<Action> {
    let Some(items) = p.seq(node, &format!("{path}.actions")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let apath = format!("{path}.actions[{i}]");
        let Some(entries) = p.map(item, &apath) else {
            continue;
        };
        let Some(kind) = p
            .required(item, "type", &apath)
            .and_then(|n| p.string(n, &format!("{apath}.type")).map(|s| (s, n.pos)))
        else {
            continue;
        };
        if !ACTION_TYPES.contains(&kind.0.as_str()) {
            p.push(
                Diagnostic::error(
                    p.file,
                    kind.1,
                    Code::UnknownAction,
                    format!(
                        "unknown action type '{}'{}",
                        kind.0,
                        suggestion_suffix(&kind.0, ACTION_TYPES.iter().copied())
                    ),
                )
                .with_hint(format!("action types: {}", ACTION_TYPES.join(", "))),
            );
            continue;
        }
        if kind.0 == "alert" {
            p.check_keys(entries, &["type", "channels"], &apath);
            let mut channels = Vec::new();
            if let Some(list) = p
                .required(item, "channels", &apath)
                .and_then(|n| p.seq(n, &format!("{apath}.channels")))
            {
                for c in list {
                    let Some(name) = p.string(c, &format!("{apath}.channels[]")) else {
                        continue;
                    };
                    if let Some(known) = p.known_channels
                        && !known.contains(&name)
                    {
                        let hint = if known.is_empty() {
                            "no channels are configured".to_owned()
                        } else {
                            format!("configured channels: {}", known.join(", "))
                        };
                        p.push(
                            Diagnostic::error(
                                p.file,
                                c.pos,
                                Code::UnknownChannel,
                                format!(
                                    "unknown channel '{name}'{}",
                                    suggestion_suffix(&name, known.iter().map(String::as_str))
                                ),
                            )
                            .with_hint(hint),
                        );
                    }
                    channels.push(name);
                }
            }
            out.push(Action::Alert { channels });
        } else {
            p.check_keys(
                entries,
                &["type", "system", "project", "url", "to", "channels"],
                &apath,
            );
            out.push(Action::Other { kind: kind.0 });
        }
    }
    out
}

fn parse_ignore(p: &mut Parser, node: &Node, index: usize) -> Option<IgnoreEntry> {
    let path = format!("ignore[{index}]");
    let entries = p.map(node, &path)?;
    p.check_keys(entries, IGNORE_KEYS, &path);
    let id = node
        .get("id")
        .and_then(|n| p.string(n, &format!("{path}.id")))
        .unwrap_or_else(|| format!("ignore#{} ({}:{})", index + 1, p.file, node.pos.line));
    let reason = p
        .required(node, "reason", &path)
        .and_then(|n| p.string(n, &format!("{path}.reason")));
    if reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        p.push(
            Diagnostic::error(
                p.file,
                node.pos,
                Code::MissingKey,
                format!("{path} has an empty 'reason'"),
            )
            .with_hint("say why this drift is acceptable"),
        );
    }
    let address = node.get("address").and_then(|n| p.glob(n));
    let resource_type = node
        .get("type")
        .or_else(|| node.get("resource_type"))
        .and_then(|n| p.glob(n));
    let attribute = node.get("attribute").and_then(|n| p.glob(n));
    let identity = node
        .get("user_identity")
        .and_then(|n| p.identity(n, &format!("{path}.user_identity")));
    if !entries.iter().any(|(k, _)| {
        matches!(
            k.name.as_str(),
            "address" | "type" | "resource_type" | "attribute" | "user_identity"
        )
    }) {
        p.push(
            Diagnostic::error(
                p.file,
                node.pos,
                Code::MissingKey,
                format!("{path} selects nothing and would ignore all drift"),
            )
            .with_hint("give at least one of address, type, attribute, user_identity"),
        );
        return None;
    }
    let expires = node.get("expires").and_then(|n| {
        let text = n.scalar_text().unwrap_or_default();
        let d = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
        if d.is_none() {
            p.push(Diagnostic::error(
                p.file,
                n.pos,
                Code::BadDate,
                format!(
                    "'expires' must be a date YYYY-MM-DD, found {}",
                    super::compile::describe(n)
                ),
            ));
        }
        d
    });
    Some(IgnoreEntry {
        id,
        reason: reason?,
        address,
        resource_type,
        attribute,
        identity,
        expires,
        file: p.file.to_owned(),
        pos: node.pos,
    })
}
