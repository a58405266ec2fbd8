//! Mapping: a catalogued [`CloudEvent`] → the resource changes it implies.
//!
//! One event can touch several resources (RunInstances with three instances, CreateTags on a
//! VPC and a subnet): each becomes a [`Touch`]. A touch lists its candidate [`Change`]s in the
//! catalog's preference order; detection picks the first whose resource a state manages.

use serde_json::Value;

use crate::catalog::expr::{Expr, Scope};
use crate::catalog::{ChangeKind, KindSel, Mapping, Op, OpSel, Target, ValueSrc, convert::convert};
use crate::event::CloudEvent;

/// How to find the resource in state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// By id or alternate identity (tried in order).
    Keys(Vec<String>),
    /// By attribute values (`role` = r, `policy_arn` = p).
    Attrs(Vec<(String, String)>),
}

/// An observed attribute value.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Terraform attribute path.
    pub path: String,
    /// Value in Terraform's shape.
    pub value: Value,
    /// How it combines with the state value.
    pub op: Op,
    /// Always masked.
    pub sensitive: bool,
}

/// One candidate interpretation of a resource change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Terraform type.
    pub rtype: String,
    /// Kind of change.
    pub kind: ChangeKind,
    /// How to find it in state.
    pub locator: Locator,
    /// Id to show (the cloud's id, or the joined match values).
    pub display_id: String,
    /// Attributes the event reveals.
    pub observed: Vec<Observed>,
    /// Default severity the catalog gives this event's drift (`None`: the profile's).
    pub severity: Option<crate::alert::Severity>,
}

/// One resource an event touched, with its candidate interpretations.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    /// Candidates, preferred first.
    pub candidates: Vec<Change>,
}

/// Applies a mapping to an event. An empty result means the event is catalogued but names no
/// resource we could extract (counted by the caller, never guessed).
#[must_use]
pub fn map_event(ev: &CloudEvent, mapping: &Mapping) -> Vec<Touch> {
    let mut touches = touches(ev, mapping);
    for part in &mapping.also {
        touches.extend(self::touches(ev, part));
    }
    if mapping.severity.is_some() {
        for c in touches.iter_mut().flat_map(|t| t.candidates.iter_mut()) {
            c.severity = mapping.severity;
        }
    }
    touches
}

fn touches(ev: &CloudEvent, mapping: &Mapping) -> Vec<Touch> {
    let items: Vec<Value> = match &mapping.foreach {
        Some(expr) => expr.eval(&Scope {
            event: ev,
            item: None,
        }),
        None => vec![Value::Null],
    };
    if items.is_empty() && !mapping.otherwise.is_empty() {
        let scope = Scope {
            event: ev,
            item: None,
        };
        // One resource (the whole policy), its interpretations in preference order.
        let candidates: Vec<Change> = mapping
            .otherwise
            .iter()
            .flat_map(|t| target_changes(t, &scope))
            .collect();
        return if candidates.is_empty() {
            Vec::new()
        } else {
            vec![Touch { candidates }]
        };
    }
    let mut touches = Vec::new();
    for item in &items {
        let scope = Scope {
            event: ev,
            item: mapping.foreach.as_ref().map(|_| item),
        };
        // Each target may name several resources (ids fanning out); group candidates by position.
        let per_target: Vec<Vec<Change>> = mapping
            .targets
            .iter()
            .map(|t| target_changes(t, &scope))
            .collect();
        let width = per_target.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..width {
            let candidates: Vec<Change> = per_target
                .iter()
                .filter_map(|changes| changes.get(i).cloned())
                .collect();
            if !candidates.is_empty() {
                touches.push(Touch { candidates });
            }
        }
    }
    touches
}

fn first_values(exprs: &[Expr], scope: &Scope<'_>) -> Vec<Value> {
    exprs
        .iter()
        .map(|e| e.eval(scope))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

fn target_changes(t: &Target, scope: &Scope<'_>) -> Vec<Change> {
    let kind = match &t.kind {
        KindSel::Fixed(k) => *k,
        KindSel::From(expr, map) => {
            let Some(v) = expr.eval_strings(scope).into_iter().next() else {
                return Vec::new();
            };
            match map.get(&v) {
                Some(k) => *k,
                None => return Vec::new(),
            }
        }
    };
    let observed: Vec<Observed> = t
        .attributes
        .iter()
        .filter_map(|a| {
            if let Some((expr, accepted)) = &a.when {
                let v = expr.eval_strings(scope).into_iter().next()?;
                if !accepted.contains(&v) {
                    return None;
                }
            }
            let raw = match &a.from {
                ValueSrc::Exprs(exprs) => first_values(exprs, scope),
                ValueSrc::Fixed(v) => vec![v.clone()],
            };
            let op = match &a.op {
                OpSel::Fixed(op) => *op,
                OpSel::From(expr, map) => {
                    *map.get(&expr.eval_strings(scope).into_iter().next()?)?
                }
            };
            // A fan-out attribute (several values) is a list; a single one stands alone.
            let raw = match raw.len() {
                0 => return None,
                1 => raw.into_iter().next().unwrap_or(Value::Null),
                _ => Value::Array(raw),
            };
            let value = match a.convert {
                Some(c) => convert(c, &raw)?,
                None => raw,
            };
            Some(Observed {
                path: a.path.clone(),
                value,
                op,
                sensitive: a.sensitive,
            })
        })
        .collect();

    if !t.match_attrs.is_empty() {
        let mut pairs = Vec::new();
        for (attr, expr) in &t.match_attrs {
            let Some(v) = expr.eval_strings(scope).into_iter().next() else {
                return Vec::new();
            };
            pairs.push((attr.clone(), v));
        }
        let display_id = pairs
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("/");
        return vec![Change {
            rtype: t.rtype.clone(),
            kind,
            locator: Locator::Attrs(pairs),
            display_id,
            observed,
            severity: None,
        }];
    }

    // Ids: the first alternative that yields anything; each value is one resource.
    let ids: Vec<String> = t
        .ids
        .iter()
        .map(|e| e.eval_strings(scope))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    ids.into_iter()
        .filter_map(|id| {
            let rtype = if t.type_by_prefix.is_empty() {
                t.rtype.clone()
            } else {
                // With a prefix table, an id no prefix claims is not guessed at.
                t.type_by_prefix
                    .iter()
                    .find(|(prefix, _)| id.starts_with(prefix.as_str()))
                    .map(|(_, ty)| ty.clone())?
            };
            Some(Change {
                rtype,
                kind,
                locator: Locator::Keys(vec![id.clone()]),
                display_id: id,
                observed: observed.clone(),
                severity: None,
            })
        })
        .collect()
}
