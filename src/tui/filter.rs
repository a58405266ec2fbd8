//! The feed filter: free text plus facets, each term optionally negated with `-`, all ANDed.
//!
//! Facets: `sev:high` (at least; `sev:=high` exactly; the labels the feed shows work too:
//! `sev:crit`, `sev:med`), `kind:unmanaged`, `provider:aws`, `acct:1111` (`account:`,
//! `project:`), `region:us-east-1`, `actor:bob` (session, e-mail, ARN, principal), `via:console`,
//! `tag:Env=production` (or `tag:production`: a key or value), `status:new`. Free text is a
//! substring of a precomputed lower-case haystack per alert (type, id, address, actor, region,
//! account, event, via, tags, rules, diff paths), so 100k alerts filter in a few milliseconds.
//! A facet with a value it cannot understand is reported, never silently turned into text.

use crate::alert::{Alert, AlertKind, Severity, Via};

use super::feed::{Entry, Status};

/// One term of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Lower-case substring of the haystack.
    Text(String),
    /// At least this severity.
    MinSeverity(Severity),
    /// Exactly this severity.
    Severity(Severity),
    /// One of these kinds.
    Kind(Vec<AlertKind>),
    /// Provider (`aws`, `gcp`), exact, case-insensitive.
    Provider(String),
    /// Account or project substring.
    Account(String),
    /// Region substring.
    Region(String),
    /// Actor substring (session, e-mail, ARN, principal).
    Actor(String),
    /// How the change was made.
    Via(Via),
    /// Tag: `key=value` (both substrings), or a key or value substring.
    Tag(String),
    /// One of these statuses.
    Status(Vec<StatusFacet>),
}

/// A term and whether it is negated (`-term`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// `-` in front: keep what does NOT match.
    pub negated: bool,
    /// The term.
    pub term: Term,
    /// The token as typed (for messages).
    pub token: String,
}

/// A parsed filter. Every clause must hold (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The text as typed (shown in the title).
    pub text: String,
    /// The clauses.
    pub clauses: Vec<Clause>,
    /// Tokens that are not understood (`sev:urgent`), with why: shown to the user.
    pub problems: Vec<String>,
}

/// The status facet values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFacet {
    /// Not handled yet.
    New,
    /// Acknowledged.
    Acked,
    /// Snoozed (still snoozed).
    Snoozed,
    /// Resolved.
    Resolved,
}

impl StatusFacet {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" | "open" | "unacked" | "unhandled" => Self::New,
            "a" | "ack" | "acked" | "acknowledged" => Self::Acked,
            "z" | "snoozed" | "snooze" | "snz" => Self::Snoozed,
            "r" | "res" | "resolved" | "done" => Self::Resolved,
            _ => return None,
        })
    }

    fn matches(self, status: &Status) -> bool {
        matches!(
            (self, status),
            (Self::New, Status::New)
                | (Self::Acked, Status::Acked)
                | (Self::Snoozed, Status::Snoozed(_))
                | (Self::Resolved, Status::Resolved)
        )
    }
}

/// Parses a severity name or the label the feed shows (`crit`, `med`).
#[must_use]
pub fn parse_severity(s: &str) -> Option<Severity> {
    Severity::parse(s).or(match s {
        "crit" => Some(Severity::Critical),
        "hi" => Some(Severity::High),
        "med" | "mid" => Some(Severity::Medium),
        "lo" => Some(Severity::Low),
        _ => None,
    })
}

/// The name the feed's VIA column shows, lower case.
#[must_use]
pub fn via_name(v: Via) -> &'static str {
    match v {
        Via::Console => "console",
        Via::Cli => "cli",
        Via::Sdk => "sdk",
        Via::Terraform => "tf",
        Via::Service => "service",
        Via::Unknown => "?",
    }
}

fn parse_via(s: &str) -> Option<Via> {
    Some(match s {
        "console" | "web" => Via::Console,
        "cli" => Via::Cli,
        "sdk" => Via::Sdk,
        "tf" | "terraform" | "tofu" => Via::Terraform,
        "service" | "svc" => Via::Service,
        "unknown" | "?" => Via::Unknown,
        _ => return None,
    })
}

/// Parses a kind name or a prefix of it (`drift`, `deleted`, `unmanaged`, `attribute_drift` …).
fn parse_kind(s: &str) -> Option<AlertKind> {
    [
        AlertKind::AttributeDrift,
        AlertKind::ManagedResourceDeleted,
        AlertKind::UnmanagedChange,
    ]
    .into_iter()
    .find(|k| {
        let name = k.as_str();
        name.starts_with(s) || name.split('_').any(|part| part.starts_with(s))
    })
}

/// Facet names the filter understands (for messages).
pub const FACETS: &str =
    "sev: kind: provider: acct: region: actor: via: tag: status: (prefix - negates)";

fn contains_lower(hay: Option<&str>, needle: &str) -> bool {
    hay.is_some_and(|h| h.to_lowercase().contains(needle))
}

impl Term {
    /// Whether the term holds for an entry; `hay` is its lower-case search text.
    fn holds(&self, e: &Entry, hay: &str) -> bool {
        let a: &Alert = &e.alert;
        match self {
            Term::Text(t) => hay.contains(t.as_str()),
            Term::MinSeverity(s) => a.severity >= *s,
            Term::Severity(s) => a.severity == *s,
            Term::Kind(k) => k.contains(&a.kind),
            Term::Provider(p) => a.provider.eq_ignore_ascii_case(p),
            Term::Account(x) => contains_lower(a.event.account.as_deref(), x),
            Term::Region(x) => contains_lower(a.event.region.as_deref(), x),
            Term::Actor(x) => {
                let act = &a.actor;
                [
                    act.session.as_deref(),
                    act.email.as_deref(),
                    act.arn.as_deref(),
                    act.principal.as_deref(),
                    Some(a.enrichment.identity.display.as_str()),
                    a.enrichment.identity.human.as_deref(),
                ]
                .into_iter()
                .any(|f| contains_lower(f, x))
            }
            Term::Via(v) => a.actor.via == *v,
            // Tags are in the haystack as `key=value` words (they survive slimming there).
            Term::Tag(x) => hay
                .split(' ')
                .filter(|w| w.contains('='))
                .any(|w| w.contains(x.as_str())),
            Term::Status(st) => st.iter().any(|s| s.matches(&e.status)),
        }
    }

    /// Free text only needs the haystack (no pointer chase to the alert).
    fn is_text(&self) -> bool {
        matches!(self, Term::Text(_))
    }
}

impl Filter {
    /// Parses filter text. Unknown keys (`arn:aws:…`) are free text; a known facet with a value
    /// it cannot understand is recorded in `problems` (and keeps nothing out).
    #[must_use]
    pub fn parse(text: &str) -> Filter {
        let mut f = Filter {
            text: text.trim().to_string(),
            ..Filter::default()
        };
        for token in text.split_whitespace() {
            let lower = token.to_lowercase();
            let (negated, body) = match lower.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest.to_string()),
                _ => (false, lower.clone()),
            };
            let term = match body.split_once(':') {
                Some((key, value)) if !value.is_empty() => match facet(key, value) {
                    Some(Ok(t)) => t,
                    Some(Err(why)) => {
                        f.problems.push(format!("'{token}': {why}"));
                        continue;
                    }
                    None => Term::Text(body),
                },
                _ => Term::Text(body),
            };
            f.clauses.push(Clause {
                negated,
                term,
                token: token.to_string(),
            });
        }
        f
    }

    /// Whether any clause needs the alert itself (not only the haystack).
    #[must_use]
    pub fn has_facets(&self) -> bool {
        self.clauses.iter().any(|c| !c.term.is_text())
    }

    /// Whether the free-text clauses hold for `hay`.
    #[must_use]
    pub fn matches_text(&self, hay: &str) -> bool {
        self.clauses.iter().all(|c| match &c.term {
            Term::Text(t) => hay.contains(t.as_str()) != c.negated,
            _ => true,
        })
    }

    /// Whether the filter keeps everything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether an entry passes; `hay` is its lower-case search text. Free text is checked
    /// first: it reads the contiguous text arena, the facets touch the alert itself.
    #[must_use]
    pub fn matches(&self, e: &Entry, hay: &str) -> bool {
        self.matches_text(hay)
            && self
                .clauses
                .iter()
                .filter(|c| !c.term.is_text())
                .all(|c| c.term.holds(e, hay) != c.negated)
    }

    /// Whether one clause holds for an entry (to tell which term matches nothing).
    #[must_use]
    pub fn clause_holds(c: &Clause, e: &Entry, hay: &str) -> bool {
        c.term.holds(e, hay) != c.negated
    }

    /// True when every alert `next` keeps is also kept by `self` (typing more of the last
    /// free-text term, or adding terms): then only the current matches need re-checking.
    #[must_use]
    pub fn is_narrowed_by(&self, next: &Filter) -> bool {
        let old: Vec<&str> = self.text.split_whitespace().collect();
        let new: Vec<&str> = next.text.split_whitespace().collect();
        if new.len() < old.len() {
            return false;
        }
        match old.split_last() {
            None => true,
            Some((last, head)) => {
                let plain = |t: &str| !t.contains(':') && !t.starts_with('-');
                head.iter().zip(&new).all(|(a, b)| a == b)
                    && (*last == new[head.len()]
                        || (plain(last)
                            && plain(new[head.len()])
                            && new[head.len()]
                                .to_lowercase()
                                .contains(&last.to_lowercase())))
            }
        }
    }
}

/// Parses `key:value`: `None` when `key` is not a facet (then the token is free text).
fn facet(key: &str, value: &str) -> Option<Result<Term, String>> {
    Some(match key {
        "sev" | "severity" => if let Some(v) = value.strip_prefix('=') {
            parse_severity(v).map(Term::Severity)
        } else {
            parse_severity(value.trim_start_matches(">=")).map(Term::MinSeverity)
        }
        .ok_or_else(|| "unknown severity (critical/crit, high, medium/med, low, info)".to_string()),
        "kind" => {
            let kinds: Vec<AlertKind> = value.split(',').filter_map(parse_kind).collect();
            if kinds.is_empty() {
                Err("unknown kind (drift, deleted, unmanaged)".to_string())
            } else {
                Ok(Term::Kind(kinds))
            }
        }
        "provider" => Ok(Term::Provider(value.to_string())),
        "account" | "acct" | "project" => Ok(Term::Account(value.to_string())),
        "region" => Ok(Term::Region(value.to_string())),
        "actor" | "who" | "user" => Ok(Term::Actor(value.to_string())),
        "via" => parse_via(value)
            .map(Term::Via)
            .ok_or_else(|| "unknown via (console, cli, sdk, tf, service)".to_string()),
        "tag" | "tags" | "label" => Ok(Term::Tag(value.to_string())),
        "status" | "is" => {
            let st: Vec<StatusFacet> = value.split(',').filter_map(StatusFacet::parse).collect();
            if st.is_empty() {
                Err("unknown status (new, ack, snoozed, resolved)".to_string())
            } else {
                Ok(Term::Status(st))
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_facets_terms_and_negation() {
        let f = Filter::parse("sev:crit kind:unmanaged provider:AWS alice -console status:new,a");
        let terms: Vec<(bool, &Term)> = f.clauses.iter().map(|c| (c.negated, &c.term)).collect();
        assert_eq!(
            terms,
            vec![
                (false, &Term::MinSeverity(Severity::Critical)),
                (false, &Term::Kind(vec![AlertKind::UnmanagedChange])),
                (false, &Term::Provider("aws".into())),
                (false, &Term::Text("alice".into())),
                (true, &Term::Text("console".into())),
                (
                    false,
                    &Term::Status(vec![StatusFacet::New, StatusFacet::Acked])
                ),
            ]
        );
        let g = Filter::parse("sev:=med kind:deleted arn:aws:iam -via:cli acct:1111 region:eu");
        assert_eq!(g.clauses[0].term, Term::Severity(Severity::Medium));
        assert_eq!(g.clauses[2].term, Term::Text("arn:aws:iam".into()));
        assert_eq!(
            (g.clauses[3].negated, &g.clauses[3].term),
            (true, &Term::Via(Via::Cli))
        );
        assert_eq!(g.clauses[4].term, Term::Account("1111".into()));
        assert_eq!(g.clauses[5].term, Term::Region("eu".into()));
        let bad = Filter::parse("sev:urgent via:carrier-pigeon");
        assert!(bad.clauses.is_empty());
        assert_eq!(bad.problems.len(), 2, "{:?}", bad.problems);
        assert!(bad.problems[0].contains("unknown severity"));
    }

    #[test]
    fn narrowing_is_detected_only_when_safe() {
        let a = Filter::parse("ali");
        assert!(a.is_narrowed_by(&Filter::parse("alice")));
        assert!(a.is_narrowed_by(&Filter::parse("ali sg")));
        assert!(!a.is_narrowed_by(&Filter::parse("al")));
        assert!(!Filter::parse("sev:h").is_narrowed_by(&Filter::parse("sev:high")));
        assert!(!Filter::parse("-a").is_narrowed_by(&Filter::parse("-ab")));
        assert!(Filter::parse("").is_narrowed_by(&Filter::parse("x")));
    }
}
