//! The reverse-dependency graph of a state index, for blast radius.
//!
//! Edges come from two places: the state's own `dependencies` (addresses, without instance
//! keys), and attribute references — any string attribute, at any depth, that equals another
//! resource's id or ARN (a security group id in an instance, a role ARN in a function, a KMS key
//! id in a bucket). Built once per state index; a query is a breadth-first walk.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use crate::alert::BlastRadius;
use crate::state::{Resource, StateIndex};

/// Dependents listed in an alert at most (`count` has the total).
pub const MAX_LISTED: usize = 50;

/// Attributes whose values identify a resource for reference matching.
const REF_KEYS: &[&str] = &["id", "arn", "self_link"];

/// Reverse dependencies: for each resource, who depends on it directly.
#[derive(Debug, Default)]
pub struct DependencyGraph {
    /// Position → addresses (cloned from the index so the graph stands alone).
    addresses: Vec<String>,
    /// Address → position.
    by_address: HashMap<String, usize>,
    /// Position → positions that depend on it directly (sorted, deduplicated).
    dependents: Vec<Vec<usize>>,
}

/// `module.a.aws_x.y["k"]` → `module.a.aws_x.y` (dependencies name resources, not instances).
fn base_address(addr: &str) -> &str {
    if addr.ends_with(']')
        && let Some(i) = addr.rfind('[')
    {
        return &addr[..i];
    }
    addr
}

/// Whether a value is specific enough to be a reference: names such as `default` or `main`
/// would link unrelated resources.
fn distinctive(v: &str) -> bool {
    v.len() >= 6
        && (v.starts_with("arn:")
            || v.contains("://")
            || v.chars().any(|c| c.is_ascii_digit()) && v.chars().any(|c| c.is_ascii_alphabetic()))
}

fn walk_strings<'a>(v: &'a Value, depth: usize, f: &mut impl FnMut(&'a str)) {
    if depth > 8 {
        return;
    }
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, depth + 1, f)),
        Value::Object(o) => o.values().for_each(|x| walk_strings(x, depth + 1, f)),
        _ => {}
    }
}

impl DependencyGraph {
    /// Builds the graph over every resource of `index`.
    #[must_use]
    pub fn new(index: &StateIndex) -> Self {
        let resources: &[Resource] = index.resources();
        let n = resources.len();
        let mut by_address = HashMap::with_capacity(n);
        let mut by_base: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_ref: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_address.insert(r.address.clone(), i);
            by_base.entry(base_address(&r.address)).or_default().push(i);
            for key in REF_KEYS {
                if let Some(Value::String(s)) = r.attributes.get(*key)
                    && distinctive(s)
                {
                    let v = by_ref.entry(s.as_str()).or_default();
                    if v.last() != Some(&i) {
                        v.push(i);
                    }
                }
            }
        }
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, r) in resources.iter().enumerate() {
            for dep in &r.dependencies {
                for &j in by_base.get(base_address(dep)).into_iter().flatten() {
                    if j != i {
                        dependents[j].push(i);
                    }
                }
            }
            if by_ref.is_empty() {
                continue;
            }
            walk_strings(&r.attributes, 0, &mut |s| {
                for &j in by_ref.get(s).into_iter().flatten() {
                    if j != i {
                        dependents[j].push(i);
                    }
                }
            });
        }
        for d in &mut dependents {
            d.sort_unstable();
            d.dedup();
        }
        DependencyGraph {
            addresses: resources.iter().map(|r| r.address.clone()).collect(),
            by_address,
            dependents,
        }
    }

    /// Direct dependents of the resource at `address`.
    #[must_use]
    pub fn direct(&self, address: &str) -> Vec<&str> {
        self.by_address.get(address).map_or_else(Vec::new, |&i| {
            self.dependents[i]
                .iter()
                .map(|&j| self.addresses[j].as_str())
                .collect()
        })
    }

    /// Every resource depending on `address`, transitively, nearest first.
    #[must_use]
    pub fn blast_radius(&self, address: &str) -> BlastRadius {
        let Some(&start) = self.by_address.get(address) else {
            return BlastRadius::default();
        };
        let mut depth = vec![usize::MAX; self.addresses.len()];
        depth[start] = 0;
        let mut queue = VecDeque::from([start]);
        let mut found: Vec<(usize, usize)> = Vec::new();
        while let Some(i) = queue.pop_front() {
            for &j in &self.dependents[i] {
                if depth[j] == usize::MAX {
                    depth[j] = depth[i] + 1;
                    found.push((depth[j], j));
                    queue.push_back(j);
                }
            }
        }
        // BFS order is by depth already; within a depth, list by address. Only the levels that
        // reach the listing are ordered, and a huge level only up to what is listed (a VPC
        // with 10,000 dependents costs a selection, not a sort).
        let by_addr =
            |a: &(usize, usize), b: &(usize, usize)| self.addresses[a.1].cmp(&self.addresses[b.1]);
        let mut listed = Vec::new();
        let mut start = 0;
        while start < found.len() && listed.len() < MAX_LISTED {
            let d = found[start].0;
            let end = start + found[start..].iter().take_while(|f| f.0 == d).count();
            let need = MAX_LISTED - listed.len();
            let mut level = &mut found[start..end];
            if level.len() > need {
                level.select_nth_unstable_by(need - 1, by_addr);
                level = &mut level[..need];
            }
            level.sort_unstable_by(by_addr);
            listed.extend(level.iter().map(|&(_, j)| self.addresses[j].clone()));
            start = end;
        }
        BlastRadius {
            count: found.len(),
            max_depth: found.last().map_or(0, |f| f.0),
            dependents: listed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::parse_state;

    #[test]
    fn dependencies_and_references_transitively() {
        let state = br#"{"version":4,"resources":[
          {"mode":"managed","type":"aws_vpc","name":"main","instances":[{"attributes":{"id":"vpc-0abc123"}}]},
          {"mode":"managed","type":"aws_subnet","name":"a","instances":[
             {"index_key":0,"attributes":{"id":"subnet-01","vpc_id":"vpc-0abc123"}},
             {"index_key":1,"attributes":{"id":"subnet-02","vpc_id":"vpc-0abc123"}}]},
          {"mode":"managed","type":"aws_instance","name":"web","instances":[{"attributes":{"id":"i-0123456","subnet_id":"subnet-02","tags":{"Name":"default"}},"dependencies":[]}]},
          {"mode":"managed","type":"aws_s3_bucket","name":"b","instances":[{"attributes":{"id":"default"},"dependencies":["aws_vpc.main"]}]}
        ]}"#;
        let idx = StateIndex::new(parse_state("t", state).unwrap());
        let g = DependencyGraph::new(&idx);
        let br = g.blast_radius("aws_vpc.main");
        assert_eq!(
            br.dependents,
            [
                "aws_s3_bucket.b",
                "aws_subnet.a[0]",
                "aws_subnet.a[1]",
                "aws_instance.web"
            ]
        );
        assert_eq!((br.count, br.max_depth), (4, 2));
        // "default" is not distinctive: the instance's Name tag does not link it to the bucket.
        assert!(g.direct("aws_s3_bucket.b").is_empty());
        assert_eq!(g.blast_radius("nope"), BlastRadius::default());
    }
}
