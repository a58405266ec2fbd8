//! Evaluation: which rules match an alert, which ignore entry or filter claims it, and what the
//! alert's severity, remediation and routing become. Pure: nothing here mutates shared state.

use super::RuleSet;
use super::model::{Condition, Field, IdentityPattern, IgnoreEntry, Leaf, Operator, Side, Target};
use super::value::{any_text, as_number, eq_or_element, loose_eq, same_values, walk, walk_map};
use crate::alert::{Alert, Severity};
use chrono::NaiveDate;
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// Inputs besides the alert.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// Severity for drift no rule claims (the profile's default, normally medium).
    pub default_severity: Severity,
    /// "Today", for ignore expiry (a parameter so tests are deterministic).
    pub today: NaiveDate,
    /// The resource's current tags (or GCP labels) from state: unchanged tags are not in the
    /// diffs, so `tags.X` conditions fall back to this map.
    pub tags: Option<&'a Map<String, Value>>,
}

/// A rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Rule id.
    pub id: String,
    /// Its severity.
    pub severity: Severity,
}

/// What happens to the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Keep,
    /// Every matching rule's identity filter skipped it (e.g. the Terraform service account).
    Skipped {
        /// First rule whose filter skipped it.
        rule: String,
    },
    /// An ignore entry claims it.
    Ignored {
        /// Ignore entry id.
        entry: String,
        /// Its reason.
        reason: String,
    },
}

/// Full result of evaluating one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Matching rules, highest severity first (file order among equals).
    pub matched: Vec<RuleMatch>,
    /// Rules whose conditions held but whose identity filter skipped the alert.
    pub skipped_by: Vec<String>,
    /// Winning severity, or the default when nothing matched.
    pub severity: Severity,
    /// Rendered remediation of the winning rule.
    pub remediation: Vec<String>,
    /// Runbook of the highest matching rule that has one.
    pub runbook: Option<String>,
    /// Channels every matching rule routes to (deduplicated, in order).
    pub channels: Vec<String>,
    /// Ignore entries that matched but have expired (they no longer apply; warn about them).
    pub expired_ignores: Vec<String>,
    /// The outcome.
    pub verdict: Verdict,
}

/// Counts of ignored and skipped drift, so nothing disappears silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreStats {
    /// Per ignore entry (or `skip:<rule>`): reason, count and the last alert id.
    pub entries: BTreeMap<String, IgnoreCount>,
}

/// One line of [`IgnoreStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreCount {
    /// Why.
    pub reason: String,
    /// How many alerts.
    pub count: u64,
    /// Latest alert id, to find an example.
    pub last_alert: String,
}

impl IgnoreStats {
    /// Records a verdict (keeps are not counted).
    pub fn record(&mut self, verdict: &Verdict, alert: &Alert) {
        let (key, reason) = match verdict {
            Verdict::Keep => return,
            Verdict::Skipped { rule } => {
                (format!("skip:{rule}"), format!("filter of rule '{rule}'"))
            }
            Verdict::Ignored { entry, reason } => (entry.clone(), reason.clone()),
        };
        let e = self.entries.entry(key).or_default();
        e.reason = reason;
        e.count += 1;
        e.last_alert.clone_from(&alert.id);
    }

    /// Total ignored or skipped.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.entries.values().map(|e| e.count).sum()
    }
}

/// An alert with its diff paths split once.
struct Prepared<'a> {
    alert: &'a Alert,
    paths: Vec<Vec<&'a str>>,
    tags: Option<&'a Map<String, Value>>,
    /// Alert field values, computed on first use (many rules test the same few fields).
    fields: [OnceCell<Option<Value>>; FIELD_COUNT],
    /// Value-operator candidates per distinct attribute path and side, computed on first use.
    attrs: Vec<[OnceCell<Vec<&'a Value>>; 2]>,
}

const FIELD_COUNT: usize = super::model::FIELD_NAMES.len();

impl Prepared<'_> {
    fn field(&self, field: Field) -> Option<&Value> {
        let idx = super::model::FIELD_NAMES
            .iter()
            .position(|(_, f)| *f == field)
            .unwrap_or(0);
        self.fields[idx]
            .get_or_init(|| field_value(field, self.alert))
            .as_ref()
    }
}

impl RuleSet {
    /// Evaluates every rule and ignore entry against `alert`. Pure.
    #[must_use]
    pub fn evaluate(&self, alert: &Alert, ctx: &EvalContext) -> Evaluation {
        let prepared = Prepared {
            alert,
            paths: alert
                .diffs
                .iter()
                .map(|d| d.path.split('.').collect())
                .collect(),
            tags: ctx.tags,
            fields: Default::default(),
            attrs: (0..self.path_count).map(|_| Default::default()).collect(),
        };
        let glob_hits = if self.generic.is_empty() {
            Vec::new()
        } else {
            self.type_globs.matches(alert.resource.rtype.as_str())
        };
        let mut hits: Vec<usize> = Vec::new();
        let mut skipped_by = Vec::new();
        let exact = self
            .by_type
            .get(alert.resource.rtype.as_str())
            .map_or(&[][..], Vec::as_slice);
        let candidates = exact
            .iter()
            .map(|&i| (i, true))
            .chain(self.generic.iter().map(|&i| (i, false)));
        for (i, by_type) in candidates {
            let rule = &self.rules[i];
            // Rules found through `by_type` matched their type already.
            let type_ok = by_type
                || rule.resource_types.is_empty()
                || self.rule_globs[i].iter().any(|g| glob_hits.contains(g))
                || rule.resource_types.iter().any(|t| matches!(t, super::model::TypePattern::Exact(e) if *e == alert.resource.rtype));
            if !type_ok || !rule.conditions.iter().all(|c| holds(c, &prepared)) {
                continue;
            }
            if rule
                .filters
                .iter()
                .any(|f| identity_matches(&f.identity, alert))
            {
                skipped_by.push(i);
            } else {
                hits.push(i);
            }
        }
        hits.sort_unstable_by_key(|&i| (std::cmp::Reverse(self.rules[i].severity), i));
        skipped_by.sort_unstable();

        let mut expired_ignores = Vec::new();
        let mut ignored = None;
        for entry in &self.ignores {
            if !ignore_matches(entry, alert) {
                continue;
            }
            if entry.expires.is_some_and(|d| ctx.today > d) {
                expired_ignores.push(entry.id.clone());
                continue;
            }
            ignored = Some(entry);
            break;
        }

        let winner = hits.first().map(|&i| &self.rules[i]);
        let mut channels: Vec<String> = Vec::new();
        for &i in &hits {
            for action in &self.rules[i].actions {
                if let super::model::Action::Alert { channels: cs } = action {
                    for c in cs {
                        if !channels.contains(c) {
                            channels.push(c.clone());
                        }
                    }
                }
            }
        }
        let verdict = if let Some(entry) = ignored {
            Verdict::Ignored {
                entry: entry.id.clone(),
                reason: entry.reason.clone(),
            }
        } else if let (None, Some(&first)) = (winner, skipped_by.first()) {
            Verdict::Skipped {
                rule: self.rules[first].id.clone(),
            }
        } else {
            Verdict::Keep
        };
        Evaluation {
            matched: hits
                .iter()
                .map(|&i| RuleMatch {
                    id: self.rules[i].id.clone(),
                    severity: self.rules[i].severity,
                })
                .collect(),
            skipped_by: skipped_by
                .iter()
                .map(|&i| self.rules[i].id.clone())
                .collect(),
            severity: winner.map_or(ctx.default_severity, |r| r.severity),
            remediation: winner
                .map(|r| r.remediation.iter().map(|t| t.render(alert)).collect())
                .unwrap_or_default(),
            runbook: hits
                .iter()
                .find_map(|&i| self.rules[i].runbook.as_ref())
                .map(|t| t.render(alert)),
            channels,
            expired_ignores,
            verdict,
        }
    }

    /// Evaluates and writes severity, matching rule ids, remediation and runbook into the alert.
    /// The alert is updated whatever the verdict, so a caller that keeps ignored alerts for
    /// auditing still sees why they would have fired.
    pub fn apply(&self, alert: &mut Alert, ctx: &EvalContext) -> Verdict {
        let eval = self.evaluate(alert, ctx);
        for id in &eval.expired_ignores {
            tracing::warn!(ignore = %id, alert = %alert.id, "Expired ignore entry matched; it no longer applies.");
        }
        alert.severity = eval.severity;
        alert.rules = eval.matched.into_iter().map(|m| m.id).collect();
        alert.remediation = eval.remediation;
        alert.runbook = eval.runbook;
        eval.verdict
    }
}

fn holds(cond: &Condition, p: &Prepared) -> bool {
    match cond {
        Condition::All(cs) => cs.iter().all(|c| holds(c, p)),
        Condition::Any(cs) => cs.iter().any(|c| holds(c, p)),
        Condition::Leaf(leaf) => leaf_holds(leaf, p),
    }
}

fn leaf_holds(leaf: &Leaf, p: &Prepared) -> bool {
    match &leaf.target {
        Target::Field(field) => {
            let value = p.field(*field);
            value_op(&leaf.op, value.as_slice())
        }
        Target::Attribute(path) => {
            if let Operator::Changed { from, to } = &leaf.op {
                return changed(path, from.as_ref(), to.as_ref(), p);
            }
            let side = usize::from(leaf.side == Side::State);
            let cached = p
                .attrs
                .get(path.id)
                .map(|slots| slots[side].get_or_init(|| attr_candidates(path, leaf.side, p)));
            match cached {
                Some(cands) => value_op(&leaf.op, cands),
                None => value_op(&leaf.op, &attr_candidates(path, leaf.side, p)),
            }
        }
    }
}

/// Values a value operator tests for `path`: walked from every diff at or above the path, else
/// from `context.tags` for tag paths.
fn attr_candidates<'a>(
    path: &super::model::AttrPath,
    side: Side,
    p: &Prepared<'a>,
) -> Vec<&'a Value> {
    let mut cands = Vec::new();
    let mut covered = false;
    for (diff, segs) in p.alert.diffs.iter().zip(&p.paths) {
        if segs.len() <= path.segments.len() && prefix_matches(segs, &path.segments) {
            covered = true;
            let v = match side {
                Side::Observed => &diff.observed,
                Side::State => &diff.state,
            };
            walk(v, &path.segments[segs.len()..], &mut cands);
        }
    }
    if !covered
        && let (Some(tags), Some(super::model::Segment::Key(head))) =
            (p.tags, path.segments.first())
        && matches!(head.as_str(), "tags" | "tags_all" | "labels")
    {
        walk_map(tags, &path.segments[1..], &mut cands);
    }
    cands
}

/// Whether the concrete diff path `segs` matches the first `segs.len()` attribute segments.
fn prefix_matches(segs: &[&str], attr: &[super::model::Segment]) -> bool {
    segs.iter().zip(attr).all(|(s, a)| match a {
        super::model::Segment::Any => true,
        super::model::Segment::Key(k) => k == s,
    })
}

fn changed(
    path: &super::model::AttrPath,
    from: Option<&Value>,
    to: Option<&Value>,
    p: &Prepared,
) -> bool {
    const NULL: &Value = &Value::Null;
    for (diff, segs) in p.alert.diffs.iter().zip(&p.paths) {
        let (mut before, mut after) = (Vec::new(), Vec::new());
        if segs.len() <= path.segments.len() && prefix_matches(segs, &path.segments) {
            let rest = &path.segments[segs.len()..];
            walk(&diff.state, rest, &mut before);
            walk(&diff.observed, rest, &mut after);
            if rest.is_empty() {
                if diff.state == diff.observed {
                    continue;
                }
            } else if same_values(&before, &after) {
                continue;
            }
        } else if segs.len() > path.segments.len()
            && prefix_matches(&segs[..path.segments.len()], &path.segments)
        {
            // The diff is below the attribute (`tags.Owner` under `tags`).
            before.push(&diff.state);
            after.push(&diff.observed);
        } else {
            continue;
        }
        if before.is_empty() {
            before.push(NULL);
        }
        if after.is_empty() {
            after.push(NULL);
        }
        let from_ok = from.is_none_or(|f| before.iter().any(|v| eq_or_element(v, f)));
        let to_ok = to.is_none_or(|t| after.iter().any(|v| eq_or_element(v, t)));
        if from_ok && to_ok {
            return true;
        }
    }
    false
}

fn value_op(op: &Operator, cands: &[&Value]) -> bool {
    match op {
        Operator::Changed { .. } => false,
        Operator::Equals(v) => cands.iter().any(|c| eq_or_element(c, v)),
        Operator::NotEquals(v) => !cands.iter().any(|c| eq_or_element(c, v)),
        Operator::In(list) => cands
            .iter()
            .any(|c| list.iter().any(|v| eq_or_element(c, v))),
        Operator::NotIn(list) => !cands
            .iter()
            .any(|c| list.iter().any(|v| eq_or_element(c, v))),
        Operator::Contains(v) => cands.iter().any(|c| contains(c, v)),
        Operator::Matches(re) => cands.iter().any(|c| any_text(c, &mut |s| re.is_match(s))),
        Operator::Glob(g) => cands.iter().any(|c| any_text(c, &mut |s| g.is_match(s))),
        Operator::Exists => cands.iter().any(|c| !c.is_null()),
        Operator::Absent => cands.iter().all(|c| c.is_null()),
        Operator::Gt(n) => cands.iter().any(|c| any_number(c, &|x| x > *n)),
        Operator::Lt(n) => cands.iter().any(|c| any_number(c, &|x| x < *n)),
        Operator::CidrContains(net) => cands.iter().any(|c| {
            any_text(c, &mut |s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .is_ok_and(|n| n.contains(net))
            })
        }),
    }
}

fn any_number(v: &Value, f: &dyn Fn(f64) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| any_number(i, f)),
        other => as_number(other).is_some_and(f),
    }
}

fn contains(c: &Value, v: &Value) -> bool {
    match c {
        Value::String(s) => match v {
            Value::String(needle) => s.contains(needle.as_str()),
            other => s.contains(&other.to_string()),
        },
        Value::Array(items) => items.iter().any(|i| loose_eq(i, v)),
        Value::Object(map) => v.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    }
}

/// The value of an alert field (`None` when the alert has none).
pub(crate) fn field_value(field: Field, a: &Alert) -> Option<Value> {
    let s = |v: &str| Some(Value::String(v.to_owned()));
    let o = |v: &Option<String>| v.as_deref().map(|x| Value::String(x.to_owned()));
    match field {
        Field::Kind => s(a.kind.as_str()),
        Field::Provider => s(&a.provider),
        Field::EventId => s(&a.event.id),
        Field::EventName => s(&a.event.name),
        Field::EventService => s(&a.event.service),
        Field::EventRegion => o(&a.event.region),
        Field::EventAccount => o(&a.event.account),
        Field::ActorType => o(&a.actor.identity_type),
        Field::ActorPrincipal => o(&a.actor.principal),
        Field::ActorArn => o(&a.actor.arn),
        Field::ActorEmail => o(&a.actor.email),
        Field::ActorSession => o(&a.actor.session),
        Field::ActorUserAgent => o(&a.actor.user_agent),
        Field::ActorSourceIp => o(&a.actor.source_ip),
        Field::ActorVia => serde_json::to_value(a.actor.via).ok(),
        Field::ResourceType => s(&a.resource.rtype),
        Field::ResourceId => s(&a.resource.id),
        Field::ResourceAddress => o(&a.resource.address),
        Field::ResourceManaged => Some(Value::Bool(a.resource.managed)),
    }
}

/// Whether every part of an identity pattern glob-matches the alert's actor.
pub(crate) fn identity_matches(pattern: &IdentityPattern, alert: &Alert) -> bool {
    !pattern.parts.is_empty()
        && pattern.parts.iter().all(|(field, glob)| {
            field_value(*field, alert).is_some_and(|v| any_text(&v, &mut |s| glob.is_match(s)))
        })
}

fn ignore_matches(entry: &IgnoreEntry, alert: &Alert) -> bool {
    entry.address.as_ref().is_none_or(|g| {
        alert
            .resource
            .address
            .as_deref()
            .is_some_and(|a| g.is_match(a))
    }) && entry
        .resource_type
        .as_ref()
        .is_none_or(|g| g.is_match(&alert.resource.rtype))
        && entry.attribute.as_ref().is_none_or(|g| {
            !alert.diffs.is_empty() && alert.diffs.iter().all(|d| g.is_match(&d.path))
        })
        && entry
            .identity
            .as_ref()
            .is_none_or(|id| identity_matches(id, alert))
}
