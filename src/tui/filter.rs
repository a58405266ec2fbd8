//! The feed filter: free text plus facets (`sev:high`, `kind:unmanaged`, `provider:aws`,
//! `account:1111`, `status:new`), parsed once and matched against a precomputed lower-case
//! haystack per alert so 100k alerts filter in a few milliseconds.

use crate::alert::{AlertKind, Severity};

use super::feed::{Entry, Status};

/// A parsed filter. Every term must match (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The text as typed (shown in the title).
    pub text: String,
    /// Lower-case free-text terms (substring of the haystack).
    pub terms: Vec<String>,
    /// At least this severity (`sev:high` keeps high and critical; `sev:=high` only high).
    pub min_severity: Option<Severity>,
    /// Exactly this severity.
    pub exact_severity: Option<Severity>,
    /// Kinds allowed (empty = all).
    pub kinds: Vec<AlertKind>,
    /// Provider (`aws`, `gcp`).
    pub provider: Option<String>,
    /// Account or project substring.
    pub account: Option<String>,
    /// Statuses allowed (empty = all).
    pub statuses: Vec<StatusFacet>,
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
            "new" | "open" | "unacked" => Self::New,
            "ack" | "acked" | "acknowledged" => Self::Acked,
            "snoozed" | "snooze" => Self::Snoozed,
            "resolved" | "done" => Self::Resolved,
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

impl Filter {
    /// Parses filter text. Unknown facets (`foo:bar`) are free text, so typing never errors.
    #[must_use]
    pub fn parse(text: &str) -> Filter {
        let mut f = Filter {
            text: text.trim().to_string(),
            ..Filter::default()
        };
        for token in text.split_whitespace() {
            let lower = token.to_lowercase();
            if let Some((key, value)) = lower.split_once(':')
                && !value.is_empty()
                && f.facet(key, value)
            {
                continue;
            }
            f.terms.push(lower);
        }
        f
    }

    /// Applies one facet; false when `key:value` is not a facet (then it is free text).
    fn facet(&mut self, key: &str, value: &str) -> bool {
        match key {
            "sev" | "severity" => {
                if let Some(v) = value.strip_prefix('=') {
                    self.exact_severity = Severity::parse(v);
                    self.exact_severity.is_some()
                } else {
                    self.min_severity = Severity::parse(value.trim_start_matches(">="));
                    self.min_severity.is_some()
                }
            }
            "kind" => {
                let kinds: Vec<AlertKind> = value.split(',').filter_map(parse_kind).collect();
                let ok = !kinds.is_empty();
                self.kinds.extend(kinds);
                ok
            }
            "provider" => {
                self.provider = Some(value.to_string());
                true
            }
            "account" | "project" => {
                self.account = Some(value.to_string());
                true
            }
            "status" | "is" => {
                let st: Vec<StatusFacet> =
                    value.split(',').filter_map(StatusFacet::parse).collect();
                let ok = !st.is_empty();
                self.statuses.extend(st);
                ok
            }
            _ => false,
        }
    }

    /// Whether any facet (severity, kind, provider, account, status) is set.
    #[must_use]
    pub fn has_facets(&self) -> bool {
        self.min_severity.is_some()
            || self.exact_severity.is_some()
            || !self.kinds.is_empty()
            || self.provider.is_some()
            || self.account.is_some()
            || !self.statuses.is_empty()
    }

    /// Whether the free-text terms all occur in `hay`.
    #[must_use]
    pub fn matches_text(&self, hay: &str) -> bool {
        self.terms.iter().all(|t| hay.contains(t.as_str()))
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
        if !self.matches_text(hay) {
            return false;
        }
        let a = &e.alert;
        if let Some(min) = self.min_severity
            && a.severity < min
        {
            return false;
        }
        if let Some(exact) = self.exact_severity
            && a.severity != exact
        {
            return false;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&a.kind) {
            return false;
        }
        if let Some(p) = &self.provider
            && !a.provider.eq_ignore_ascii_case(p)
        {
            return false;
        }
        if let Some(acc) = &self.account
            && !a
                .event
                .account
                .as_deref()
                .is_some_and(|x| x.to_lowercase().contains(acc))
        {
            return false;
        }
        self.statuses.is_empty() || self.statuses.iter().any(|s| s.matches(&e.status))
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
                head.iter().zip(&new).all(|(a, b)| a == b)
                    && (*last == new[head.len()]
                        || (!last.contains(':')
                            && !new[head.len()].contains(':')
                            && new[head.len()]
                                .to_lowercase()
                                .contains(&last.to_lowercase())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_facets_and_terms() {
        let f = Filter::parse("sev:high kind:unmanaged provider:AWS alice status:new,acked");
        assert_eq!(f.min_severity, Some(Severity::High));
        assert_eq!(f.kinds, vec![AlertKind::UnmanagedChange]);
        assert_eq!(f.provider.as_deref(), Some("aws"));
        assert_eq!(f.terms, vec!["alice".to_string()]);
        assert_eq!(f.statuses, vec![StatusFacet::New, StatusFacet::Acked]);
        let g = Filter::parse("sev:=low kind:deleted foo:bar");
        assert_eq!(g.exact_severity, Some(Severity::Low));
        assert_eq!(g.kinds, vec![AlertKind::ManagedResourceDeleted]);
        assert_eq!(g.terms, vec!["foo:bar".to_string()]);
    }

    #[test]
    fn narrowing_is_detected_only_when_safe() {
        let a = Filter::parse("ali");
        assert!(a.is_narrowed_by(&Filter::parse("alice")));
        assert!(a.is_narrowed_by(&Filter::parse("ali sg")));
        assert!(!a.is_narrowed_by(&Filter::parse("al")));
        assert!(!Filter::parse("sev:h").is_narrowed_by(&Filter::parse("sev:high")));
        assert!(Filter::parse("").is_narrowed_by(&Filter::parse("x")));
    }
}
