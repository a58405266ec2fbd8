//! Remediation and runbook templates: `{resource.id}`, `{diff.observed}`, … filled from the alert.
//!
//! Templates are parsed once at load. Unknown names are errors in validation; a small set of legacy
//! aliases from the seed document (`{instance_id}` …) still work but draw a warning (R020)
//! suggesting the canonical name. `{{` and `}}` write literal braces. A value the alert does not
//! have renders as `<unknown>` so a copy-pasted command fails loudly instead of silently.

use crate::alert::Alert;
use serde_json::Value;

/// A value a template can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `resource.id`.
    ResourceId,
    /// `resource.address`.
    ResourceAddress,
    /// `resource.type`.
    ResourceType,
    /// `diff.path` (first diff).
    DiffPath,
    /// `diff.state` (first diff).
    DiffState,
    /// `diff.observed` (first diff).
    DiffObserved,
    /// `actor.arn`.
    ActorArn,
    /// `actor.email`.
    ActorEmail,
    /// `actor.principal`.
    ActorPrincipal,
    /// `actor.session`.
    ActorSession,
    /// `actor.type`.
    ActorType,
    /// `actor.source_ip`.
    ActorSourceIp,
    /// `event.id`.
    EventId,
    /// `event.name`.
    EventName,
    /// `event.service`.
    EventService,
    /// `event.region`.
    EventRegion,
    /// `event.account`.
    EventAccount,
    /// `kind`.
    Kind,
    /// `provider`.
    Provider,
    /// `alert.id`.
    AlertId,
}

/// Canonical names.
pub const VAR_NAMES: &[(&str, Var)] = &[
    ("resource.id", Var::ResourceId),
    ("resource.address", Var::ResourceAddress),
    ("resource.type", Var::ResourceType),
    ("diff.path", Var::DiffPath),
    ("diff.state", Var::DiffState),
    ("diff.observed", Var::DiffObserved),
    ("actor.arn", Var::ActorArn),
    ("actor.email", Var::ActorEmail),
    ("actor.principal", Var::ActorPrincipal),
    ("actor.session", Var::ActorSession),
    ("actor.type", Var::ActorType),
    ("actor.source_ip", Var::ActorSourceIp),
    ("event.id", Var::EventId),
    ("event.name", Var::EventName),
    ("event.service", Var::EventService),
    ("event.region", Var::EventRegion),
    ("event.account", Var::EventAccount),
    ("kind", Var::Kind),
    ("provider", Var::Provider),
    ("alert.id", Var::AlertId),
];

/// Legacy aliases (seed document style) and what they mean.
pub const LEGACY_ALIASES: &[(&str, &str)] = &[
    ("instance_id", "resource.id"),
    ("resource_id", "resource.id"),
    ("group_id", "resource.id"),
    ("bucket_name", "resource.id"),
    ("address", "resource.address"),
    ("region", "event.region"),
    ("account_id", "event.account"),
    ("project", "event.account"),
];

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// As written.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A problem found while parsing a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateIssue {
    /// `{name}` is not known (error).
    Unknown {
        /// The name.
        name: String,
        /// Byte offset of `{` in the template.
        offset: usize,
    },
    /// `{name}` is a legacy alias (warning).
    Legacy {
        /// The alias.
        name: String,
        /// The canonical name.
        canonical: &'static str,
        /// Byte offset.
        offset: usize,
    },
    /// A `{` without `}` (error).
    Unclosed {
        /// Byte offset.
        offset: usize,
    },
}

fn lookup(name: &str) -> Option<Var> {
    VAR_NAMES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

impl Template {
    /// Parses a template; issues are returned alongside (unknown names render as written).
    #[must_use]
    pub fn parse(source: &str) -> (Template, Vec<TemplateIssue>) {
        let mut parts = Vec::new();
        let mut issues = Vec::new();
        let mut lit = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(&rest[..i]);
            let brace = &rest[i..];
            if brace.starts_with("{{") || brace.starts_with("}}") {
                lit.push_str(&brace[..1]);
                offset += i + 2;
                rest = &brace[2..];
                continue;
            }
            if let Some(after) = brace.strip_prefix('}') {
                lit.push('}');
                offset += i + 1;
                rest = after;
                continue;
            }
            let Some(end) = brace.find('}') else {
                issues.push(TemplateIssue::Unclosed { offset: offset + i });
                lit.push_str(brace);
                rest = "";
                break;
            };
            let name = brace[1..end].trim();
            let var = lookup(name).or_else(|| {
                LEGACY_ALIASES
                    .iter()
                    .find(|(a, _)| *a == name)
                    .and_then(|(a, canonical)| {
                        issues.push(TemplateIssue::Legacy {
                            name: (*a).to_owned(),
                            canonical,
                            offset: offset + i,
                        });
                        lookup(canonical)
                    })
            });
            if let Some(var) = var {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Var(var));
            } else {
                issues.push(TemplateIssue::Unknown {
                    name: name.to_owned(),
                    offset: offset + i,
                });
                lit.push_str(&brace[..=end]);
            }
            offset += i + end + 1;
            rest = &brace[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        (
            Template {
                parts,
                source: source.to_owned(),
            },
            issues,
        )
    }

    /// Renders against an alert.
    #[must_use]
    pub fn render(&self, alert: &Alert) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    out.push_str(&value_of(*v, alert).unwrap_or_else(|| "<unknown>".to_owned()));
                }
            }
        }
        out
    }
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_of(var: Var, a: &Alert) -> Option<String> {
    let first = a.diffs.first();
    match var {
        Var::ResourceId => Some(a.resource.id.clone()).filter(|s| !s.is_empty()),
        Var::ResourceAddress => a.resource.address.clone(),
        Var::ResourceType => Some(a.resource.rtype.clone()),
        Var::DiffPath => first.map(|d| d.path.clone()),
        Var::DiffState => first.map(|d| json_text(&d.state)),
        Var::DiffObserved => first.map(|d| json_text(&d.observed)),
        Var::ActorArn => a.actor.arn.clone(),
        Var::ActorEmail => a.actor.email.clone(),
        Var::ActorPrincipal => a.actor.principal.clone(),
        Var::ActorSession => a.actor.session.clone(),
        Var::ActorType => a.actor.identity_type.clone(),
        Var::ActorSourceIp => a.actor.source_ip.clone(),
        Var::EventId => Some(a.event.id.clone()),
        Var::EventName => Some(a.event.name.clone()),
        Var::EventService => Some(a.event.service.clone()),
        Var::EventRegion => a.event.region.clone(),
        Var::EventAccount => a.event.account.clone(),
        Var::Kind => Some(a.kind.as_str().to_owned()),
        Var::Provider => Some(a.provider.clone()),
        Var::AlertId => Some(a.id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vars_escapes_and_issues() {
        let (t, issues) = Template::parse("a {resource.id} {{x}} {nope} {instance_id}");
        assert_eq!(issues.len(), 2);
        assert!(
            matches!(&issues[0], TemplateIssue::Unknown { name, offset: 22 } if name == "nope")
        );
        assert!(matches!(
            &issues[1],
            TemplateIssue::Legacy {
                canonical: "resource.id",
                ..
            }
        ));
        assert_eq!(t.parts.len(), 4);
        let (_, issues) = Template::parse("open {resource.id");
        assert_eq!(issues, vec![TemplateIssue::Unclosed { offset: 5 }]);
    }
}
