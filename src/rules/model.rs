//! Compiled rule model: what a rule file becomes once parsed and checked.
//!
//! Everything expensive (regexes, globs, CIDRs, attribute paths, templates) is compiled here once;
//! evaluation only reads these structures, so a [`super::RuleSet`] is immutable and `Send + Sync`.

use super::template::Template;
use super::yaml::Pos;
use crate::alert::Severity;
use chrono::NaiveDate;
use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id (`aws-001`), listed in `alert.rules`.
    pub id: String,
    /// Short title.
    pub name: String,
    /// Longer explanation.
    pub description: String,
    /// Severity given to matching drift.
    pub severity: Severity,
    /// Resource type patterns; empty means every type.
    pub resource_types: Vec<TypePattern>,
    /// All must hold.
    pub conditions: Vec<Condition>,
    /// Identity filters that skip matching drift.
    pub filters: Vec<Filter>,
    /// Where to send matching drift.
    pub actions: Vec<Action>,
    /// Remediation lines, rendered into the alert.
    pub remediation: Vec<Template>,
    /// Runbook link or text.
    pub runbook: Option<Template>,
    /// File the rule came from.
    pub file: String,
    /// Where the rule starts.
    pub pos: Pos,
}

/// A `resource_types` entry: an exact name (fast path) or a glob.
#[derive(Debug, Clone)]
pub enum TypePattern {
    /// `aws_instance`.
    Exact(String),
    /// `aws_iam_*`.
    Glob(Glob),
}

impl TypePattern {
    /// Whether `rtype` matches.
    #[must_use]
    pub fn matches(&self, rtype: &str) -> bool {
        match self {
            TypePattern::Exact(t) => t == rtype,
            TypePattern::Glob(g) => g.is_match(rtype),
        }
    }
}

/// A compiled glob with a literal prefilter: most globs (`arn:aws:iam::*:role/terraform-*`) have
/// a literal prefix and suffix, and checking those first skips the regex for nearly every
/// non-matching candidate (the regex dominated evaluation time in the benchmark).
#[derive(Debug, Clone)]
pub struct Glob {
    matcher: globset::GlobMatcher,
    /// Literal text before the first metacharacter.
    prefix: String,
    /// Literal text after the last metacharacter.
    suffix: String,
    /// The whole glob is a literal: compare directly.
    literal: bool,
}

impl Glob {
    /// Wraps a compiled matcher for `text`.
    #[must_use]
    pub fn new(text: &str, matcher: globset::GlobMatcher) -> Glob {
        let is_meta = |c: char| matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\');
        if text.contains('\\') {
            // Escapes make the literal parts ambiguous: no prefilter.
            return Glob {
                matcher,
                prefix: String::new(),
                suffix: String::new(),
                literal: false,
            };
        }
        let first = text.find(is_meta);
        let last = text.rfind(is_meta);
        match (first, last) {
            (Some(f), Some(l)) => Glob {
                matcher,
                prefix: text[..f].to_owned(),
                suffix: text[l + 1..].to_owned(),
                literal: false,
            },
            _ => Glob {
                matcher,
                prefix: text.to_owned(),
                suffix: String::new(),
                literal: true,
            },
        }
    }

    /// Whether `s` matches.
    #[must_use]
    pub fn is_match(&self, s: &str) -> bool {
        if self.literal {
            return s == self.prefix;
        }
        s.len() >= self.prefix.len() + self.suffix.len()
            && s.starts_with(&self.prefix)
            && s.ends_with(&self.suffix)
            && self.matcher.is_match(s)
    }

    /// The underlying globset glob (to build a `GlobSet`).
    #[must_use]
    pub fn glob(&self) -> &globset::Glob {
        self.matcher.glob()
    }
}

/// A condition tree node.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Every child holds (`all:`).
    All(Vec<Condition>),
    /// At least one child holds (`any:`).
    Any(Vec<Condition>),
    /// A single test.
    Leaf(Leaf),
}

/// One `attribute:`/`field:` test.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// What is looked at.
    pub target: Target,
    /// How it is tested.
    pub op: Operator,
    /// Which side of a diff value operators read (`observed` unless `on: state`).
    pub side: Side,
}

/// Which diff value a value operator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The value seen in the event (default).
    Observed,
    /// The value in Terraform state.
    State,
}

/// What a condition looks at.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Terraform attribute path, read from the diffs (and `context.tags`).
    Attribute(AttrPath),
    /// An alert field.
    Field(Field),
}

/// A dotted attribute path; `*` matches every array element or map value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Segments (`ingress`, `*`, `cidr_blocks`).
    pub segments: Vec<Segment>,
    /// As written, for messages.
    pub text: String,
    /// Index among the rule set's distinct paths (assigned when the set is assembled), so an
    /// evaluation walks each distinct path once however many rules use it.
    pub id: usize,
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A key or index.
    Key(String),
    /// `*`.
    Any,
}

impl AttrPath {
    /// Splits `ingress.*.cidr_blocks` into segments.
    #[must_use]
    pub fn parse(text: &str) -> AttrPath {
        let segments = text
            .split('.')
            .map(|s| {
                if s == "*" {
                    Segment::Any
                } else {
                    Segment::Key(s.to_owned())
                }
            })
            .collect();
        AttrPath {
            segments,
            text: text.to_owned(),
            id: 0,
        }
    }
}

/// Alert fields a `field:` condition (or an identity filter) can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `kind`.
    Kind,
    /// `provider`.
    Provider,
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
    /// `actor.type`.
    ActorType,
    /// `actor.principal`.
    ActorPrincipal,
    /// `actor.arn`.
    ActorArn,
    /// `actor.email`.
    ActorEmail,
    /// `actor.session`.
    ActorSession,
    /// `actor.user_agent`.
    ActorUserAgent,
    /// `actor.source_ip`.
    ActorSourceIp,
    /// `actor.via`.
    ActorVia,
    /// `resource.type`.
    ResourceType,
    /// `resource.id`.
    ResourceId,
    /// `resource.address`.
    ResourceAddress,
    /// `resource.managed`.
    ResourceManaged,
}

/// Every field name, in the order shown in hints.
pub const FIELD_NAMES: &[(&str, Field)] = &[
    ("kind", Field::Kind),
    ("provider", Field::Provider),
    ("event.id", Field::EventId),
    ("event.name", Field::EventName),
    ("event.service", Field::EventService),
    ("event.region", Field::EventRegion),
    ("event.account", Field::EventAccount),
    ("actor.type", Field::ActorType),
    ("actor.principal", Field::ActorPrincipal),
    ("actor.arn", Field::ActorArn),
    ("actor.email", Field::ActorEmail),
    ("actor.session", Field::ActorSession),
    ("actor.user_agent", Field::ActorUserAgent),
    ("actor.source_ip", Field::ActorSourceIp),
    ("actor.via", Field::ActorVia),
    ("resource.type", Field::ResourceType),
    ("resource.id", Field::ResourceId),
    ("resource.address", Field::ResourceAddress),
    ("resource.managed", Field::ResourceManaged),
];

impl Field {
    /// Looks a field up by name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Field> {
        FIELD_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }
}

/// A compiled operator with its operand.
#[derive(Debug, Clone)]
pub enum Operator {
    /// The attribute changed (optionally from / to given values).
    Changed {
        /// State value must equal this.
        from: Option<Value>,
        /// Observed value must equal this.
        to: Option<Value>,
    },
    /// Equal (type-aware).
    Equals(Value),
    /// Not equal.
    NotEquals(Value),
    /// One of.
    In(Vec<Value>),
    /// None of.
    NotIn(Vec<Value>),
    /// Substring, list element or map key.
    Contains(Value),
    /// Regex (unanchored; anchor it yourself).
    Matches(Regex),
    /// Glob.
    Glob(Glob),
    /// A non-null value is present.
    Exists,
    /// No non-null value.
    Absent,
    /// Numerically greater.
    Gt(f64),
    /// Numerically less.
    Lt(f64),
    /// An observed CIDR contains this network (`0.0.0.0/0` contains only `0.0.0.0/0`).
    CidrContains(IpNet),
}

/// Operator names, for did-you-mean.
pub const OPERATOR_NAMES: &[&str] = &[
    "changed",
    "equals",
    "not_equals",
    "in",
    "not_in",
    "contains",
    "matches",
    "glob",
    "exists",
    "absent",
    "gt",
    "lt",
    "cidr_contains",
];

/// An identity pattern (`user_identity:`), every given field must glob-match.
#[derive(Debug, Clone, Default)]
pub struct IdentityPattern {
    /// `(field, glob)` pairs.
    pub parts: Vec<(Field, Glob)>,
}

/// `filters:` entry.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Who.
    pub identity: IdentityPattern,
}

/// `actions:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Route to channels.
    Alert {
        /// Channel names.
        channels: Vec<String>,
    },
    /// A known action type that the engine accepts but does not perform (`create_ticket`,
    /// `audit_log`); the sink layer may act on it later.
    Other {
        /// The type.
        kind: String,
    },
}

/// Action types accepted by validation.
pub const ACTION_TYPES: &[&str] = &["alert", "create_ticket", "audit_log", "webhook", "email"];

/// Top-level `ignore:` entry.
#[derive(Debug, Clone)]
pub struct IgnoreEntry {
    /// `id`, or `ignore#N` when none was given.
    pub id: String,
    /// Why it is ignored (mandatory).
    pub reason: String,
    /// Glob on `resource.address`.
    pub address: Option<Glob>,
    /// Glob on `resource.type`.
    pub resource_type: Option<Glob>,
    /// Glob every diff path must match.
    pub attribute: Option<Glob>,
    /// Who.
    pub identity: Option<IdentityPattern>,
    /// Last day the entry applies.
    pub expires: Option<NaiveDate>,
    /// File it came from.
    pub file: String,
    /// Where it starts.
    pub pos: Pos,
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn glob(text: &str) -> Glob {
        let m = globset::GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .unwrap()
            .compile_matcher();
        Glob::new(text, m)
    }

    #[test]
    fn prefiltered_globs_agree_with_globset() {
        let cases = [
            (
                "arn:aws:iam::*:role/terraform-*",
                "arn:aws:iam::123:role/terraform-ci",
                true,
            ),
            (
                "arn:aws:iam::*:role/terraform-*",
                "arn:aws:iam::123:role/admin",
                false,
            ),
            (
                "*@*-terraform.iam.gserviceaccount.com",
                "x@acme-terraform.iam.gserviceaccount.com",
                true,
            ),
            (
                "*@*-terraform.iam.gserviceaccount.com",
                "x@acme.iam.gserviceaccount.com",
                false,
            ),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("file\\*", "file*", true),
            ("file\\*", "files", false),
            ("{a,b}c", "bc", true),
        ];
        for (pattern, input, expected) in cases {
            assert_eq!(
                glob(pattern).is_match(input),
                expected,
                "{pattern} vs {input}"
            );
        }
    }
}
