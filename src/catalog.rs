//! The event catalog: data files (one per service, embedded at build time) that say, for each
//! API call, which Terraform type it touches, where the resource id is, what kind of change it is
//! and which request fields become which Terraform attributes.
//!
//! Files are compiled once into [`Catalog`]; lookups are a hash probe by (provider, action) plus
//! an event-source check for names that several services share.

pub mod convert;
pub mod expr;
pub mod spec;
pub mod user;
pub mod watch;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use include_dir::{Dir, include_dir};

use crate::event::{CloudEvent, Provider};
use expr::Expr;
use spec::{CatalogFile, EventSpec, TargetSpec};
pub use spec::{ChangeKind, Convert, Op};

/// The catalog files shipped inside the binary.
static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets/catalog");

/// A catalog file that does not load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// YAML or schema error.
    #[error("catalog file '{file}': {message}")]
    Parse {
        /// File.
        file: String,
        /// What is wrong, with line and column when known.
        message: String,
    },
    /// An expression inside a mapping does not compile.
    #[error("catalog file '{file}', event '{event}': {message}")]
    Expr {
        /// File.
        file: String,
        /// Event name.
        event: String,
        /// What is wrong.
        message: String,
    },
}

/// How a target's change kind is chosen.
#[derive(Debug, Clone)]
pub enum KindSel {
    /// Fixed.
    Fixed(ChangeKind),
    /// Read from the event.
    From(Expr, BTreeMap<String, ChangeKind>),
}

/// Where an attribute's observed value comes from.
#[derive(Debug, Clone)]
pub enum ValueSrc {
    /// Expressions, first non-empty wins.
    Exprs(Vec<Expr>),
    /// A fixed value.
    Fixed(serde_json::Value),
}

/// How an attribute's op is chosen.
#[derive(Debug, Clone)]
pub enum OpSel {
    /// Fixed.
    Fixed(Op),
    /// Read from the event.
    From(Expr, BTreeMap<String, Op>),
}

/// A compiled attribute extraction.
#[derive(Debug, Clone)]
pub struct AttrMap {
    /// Terraform attribute path.
    pub path: String,
    /// Observed value source.
    pub from: ValueSrc,
    /// Conversion.
    pub convert: Option<Convert>,
    /// Combination with the state value.
    pub op: OpSel,
    /// Always masked.
    pub sensitive: bool,
    /// Only when this expression yields one of these values.
    pub when: Option<(Expr, Vec<String>)>,
}

/// A compiled target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Terraform type.
    pub rtype: String,
    /// Id prefix → type.
    pub type_by_prefix: Vec<(String, String)>,
    /// Change kind.
    pub kind: KindSel,
    /// Id alternatives.
    pub ids: Vec<Expr>,
    /// Attribute-value identification.
    pub match_attrs: Vec<(String, Expr)>,
    /// Attribute extractions.
    pub attributes: Vec<AttrMap>,
}

/// A compiled event mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Event source this mapping applies to (`None` = any).
    pub source: Option<String>,
    /// Fan-out expression.
    pub foreach: Option<Expr>,
    /// Targets in preference order.
    pub targets: Vec<Target>,
    /// With `foreach`: targets when the list is empty (see [`spec::EventSpec::otherwise`]).
    pub otherwise: Vec<Target>,
    /// Further parts of the same event, each mapped on its own (a permission call that adds
    /// some accounts and removes others).
    pub also: Vec<Mapping>,
    /// File it came from.
    pub file: String,
    /// Default severity of the drift it reveals, when the catalog sets one.
    pub severity: Option<crate::alert::Severity>,
    /// The event name exactly as the catalog file writes it (GCP: with its API version). When
    /// several versions of one GCP method are catalogued differently, the exact name decides.
    pub name: String,
}

impl Mapping {
    /// Every target of the mapping: primary and alternatives, `otherwise`, and its `also` parts.
    #[must_use]
    pub fn all_targets(&self) -> Vec<&Target> {
        let mut out: Vec<&Target> = self.targets.iter().chain(&self.otherwise).collect();
        for part in &self.also {
            out.extend(part.all_targets());
        }
        out
    }
}

/// The catalog key of an event name: GCP names without their API-version segments
/// (`google.cloud.run.v2.Services.SetIamPolicy` → `google.cloud.run.Services.SetIamPolicy`,
/// `beta.compute.instances.insert` → `compute.instances.insert`), so one entry matches every
/// version; AWS names as they are.
#[must_use]
pub fn action_key(provider: Provider, name: &str) -> Cow<'_, str> {
    match provider {
        Provider::Aws => Cow::Borrowed(name),
        Provider::Gcp => crate::normalize::gcp::version_free(name),
    }
}

/// Result of looking an event up.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A runtime operation (reboot, start/stop), not a configuration change.
    Operational,
    /// One mapping applies.
    Found(&'a Mapping),
    /// The name is catalogued, but for other sources only, or for several without a source
    /// to tell them apart: the candidate types are listed, nothing is guessed.
    Ambiguous(Vec<String>),
    /// Not in the catalog.
    Unknown,
}

/// The compiled catalog.
#[derive(Debug, Default)]
pub struct Catalog {
    by_action: HashMap<(Provider, String), Vec<Mapping>>,
    /// (provider, action) → event sources for which the call is operational.
    operational: HashMap<(Provider, String), Vec<Option<String>>>,
    /// The profile's `catalog:` paths laid over this catalog (watched for hot reload).
    user_specs: Vec<String>,
}

/// Coverage line for `tfdrift catalog`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Coverage {
    /// Provider.
    pub provider: String,
    /// Event source (service).
    pub source: String,
    /// Event names mapped.
    pub events: usize,
    /// Of which with attribute extraction.
    pub with_attributes: usize,
    /// Terraform types reached.
    pub types: Vec<String>,
}

fn compile_target(t: &TargetSpec, file: &str, event: &str) -> Result<Target, CatalogError> {
    let err = |message: String| CatalogError::Expr {
        file: file.to_string(),
        event: event.to_string(),
        message,
    };
    let kind = match (&t.kind, &t.kind_from) {
        (Some(k), None) => KindSel::Fixed(*k),
        (None, Some(kf)) => KindSel::From(Expr::parse(&kf.from).map_err(&err)?, kf.map.clone()),
        (None, None) => {
            return Err(err(format!(
                "target '{}' needs `kind` or `kind_from`",
                t.rtype
            )));
        }
        (Some(_), Some(_)) => {
            return Err(err(format!(
                "target '{}' has both `kind` and `kind_from`",
                t.rtype
            )));
        }
    };
    let ids = match &t.id {
        Some(e) => e
            .all()
            .into_iter()
            .map(Expr::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?,
        None => Vec::new(),
    };
    let match_attrs = match &t.match_attrs {
        Some(m) => m
            .iter()
            .map(|(k, v)| {
                let src = v.as_str().ok_or_else(|| {
                    err(format!("match value for '{k}' must be a string expression"))
                })?;
                Ok((k.clone(), Expr::parse(src).map_err(&err)?))
            })
            .collect::<Result<Vec<_>, CatalogError>>()?,
        None => Vec::new(),
    };
    if ids.is_empty() && match_attrs.is_empty() {
        return Err(err(format!("target '{}' needs `id` or `match`", t.rtype)));
    }
    let attributes = t
        .attributes
        .iter()
        .map(|a| {
            let from = match (&a.from, &a.value) {
                (Some(f), None) => ValueSrc::Exprs(
                    f.all()
                        .into_iter()
                        .map(Expr::parse)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(&err)?,
                ),
                (None, Some(v)) => ValueSrc::Fixed(v.clone()),
                _ => {
                    return Err(err(format!(
                        "attribute '{}' needs exactly one of `from` or `value`",
                        a.path
                    )));
                }
            };
            let op = match &a.op_from {
                Some(of) => OpSel::From(Expr::parse(&of.from).map_err(&err)?, of.map.clone()),
                None => OpSel::Fixed(a.op),
            };
            let when = match &a.when {
                Some(w) => Some((Expr::parse(&w.from).map_err(&err)?, w.equals.clone())),
                None => None,
            };
            Ok(AttrMap {
                path: a.path.clone(),
                from,
                convert: a.convert,
                op,
                sensitive: a.sensitive,
                when,
            })
        })
        .collect::<Result<Vec<_>, CatalogError>>()?;
    Ok(Target {
        rtype: t.rtype.clone(),
        type_by_prefix: t
            .type_by_prefix
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        kind,
        ids,
        match_attrs,
        attributes,
    })
}

/// Compiles one event spec (or one `also` part of it) into a mapping without source or name.
fn compile_mapping(ev: &EventSpec, file: &str, label: &str) -> Result<Mapping, CatalogError> {
    let targets = ev
        .targets()
        .iter()
        .map(|t| compile_target(t, file, label))
        .collect::<Result<Vec<_>, _>>()?;
    let otherwise = ev
        .otherwise
        .iter()
        .map(|t| compile_target(t, file, label))
        .collect::<Result<Vec<_>, _>>()?;
    let err = |message: String| CatalogError::Expr {
        file: file.to_string(),
        event: label.to_string(),
        message,
    };
    if !otherwise.is_empty() && ev.foreach.is_none() {
        return Err(err(
            "`otherwise` needs `foreach` (it applies when the list is empty)".into(),
        ));
    }
    let foreach = ev
        .foreach
        .as_deref()
        .map(Expr::parse)
        .transpose()
        .map_err(err)?;
    Ok(Mapping {
        source: None,
        foreach,
        targets,
        otherwise,
        also: Vec::new(),
        file: file.to_string(),
        severity: ev.severity,
        name: String::new(),
    })
}

impl Catalog {
    /// The catalog shipped in the binary.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        let mut files: Vec<(String, &str)> = Vec::new();
        collect_embedded(&EMBEDDED, &mut files);
        let mut cat = Catalog::default();
        for (name, text) in files {
            cat.add_file(&name, text)?;
        }
        Ok(cat)
    }

    /// Adds one catalog file's mappings (later files add to, never replace, earlier ones).
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), CatalogError> {
        let parsed: CatalogFile =
            serde_saphyr::from_str(text).map_err(|e| CatalogError::Parse {
                file: file.to_string(),
                message: e.to_string(),
            })?;
        let provider = match parsed.provider.as_str() {
            "aws" => Provider::Aws,
            "gcp" | "google" => Provider::Gcp,
            other => {
                return Err(CatalogError::Parse {
                    file: file.to_string(),
                    message: format!("unknown provider '{other}' (use aws or gcp)"),
                });
            }
        };
        for name in &parsed.operational {
            self.operational
                .entry((provider, action_key(provider, name).into_owned()))
                .or_default()
                .push(parsed.source.clone());
        }
        for ev in &parsed.events {
            let names = ev.name.all();
            let Some(label) = names.first().copied() else {
                return Err(CatalogError::Parse {
                    file: file.to_string(),
                    message: "an event has no `name`".into(),
                });
            };
            let mut mapping = compile_mapping(ev, file, label)?;
            mapping.source = ev.source.clone().or_else(|| parsed.source.clone());
            for part in &ev.also {
                if !part.name.all().is_empty() || part.source.is_some() || !part.also.is_empty() {
                    return Err(CatalogError::Expr {
                        file: file.to_string(),
                        event: label.to_string(),
                        message: "an `also` part takes no `name`, `source` or `also` of its own"
                            .into(),
                    });
                }
                mapping.also.push(compile_mapping(part, file, label)?);
            }
            for name in names {
                let mut m = mapping.clone();
                m.name = name.to_string();
                self.by_action
                    .entry((provider, action_key(provider, name).into_owned()))
                    .or_default()
                    .push(m);
            }
        }
        Ok(())
    }

    /// Finds the mapping for an event: by its version-free name (one hash probe), then by
    /// event source; when several API versions of one GCP method are catalogued differently,
    /// the logged version picks, and an uncatalogued version is ambiguous (never guessed).
    #[must_use]
    pub fn lookup(&self, ev: &CloudEvent) -> Lookup<'_> {
        let key = (
            ev.provider,
            action_key(ev.provider, &ev.action).into_owned(),
        );
        if let Some(sources) = self.operational.get(&key)
            && sources
                .iter()
                .any(|s| s.as_deref().is_none_or(|s| s == ev.source))
        {
            return Lookup::Operational;
        }
        let Some(list) = self.by_action.get(&key) else {
            return Lookup::Unknown;
        };
        let same_source: Vec<&Mapping> = list
            .iter()
            .filter(|m| m.source.as_deref().is_some_and(|s| s == ev.source))
            .collect();
        match same_source.as_slice() {
            [] => {}
            [one] => return Lookup::Found(one),
            several => return Self::by_version(ev, several),
        }
        let sourceless: Vec<&Mapping> = list.iter().filter(|m| m.source.is_none()).collect();
        if sourceless.len() == 1 {
            return Lookup::Found(sourceless[0]);
        }
        if sourceless.len() > 1 && !ev.source.is_empty() {
            return Self::by_version(ev, &sourceless);
        }
        if !ev.source.is_empty() && sourceless.is_empty() {
            // Catalogued for other services only (SetIamPolicy on KMS vs projects).
            return Lookup::Unknown;
        }
        if list.len() == 1 {
            // The record does not say its source, and only one service has this name.
            return Lookup::Found(&list[0]);
        }
        Self::ambiguous(list.iter())
    }

    /// Several mappings share the version-free name and the source: the one catalogued under
    /// the logged name wins; otherwise they must agree on everything but the name.
    fn by_version<'a>(ev: &CloudEvent, several: &[&'a Mapping]) -> Lookup<'a> {
        let logged = crate::normalize::gcp::strip_method_prefix(&ev.raw_action);
        let exact: Vec<&Mapping> = several
            .iter()
            .copied()
            .filter(|m| m.name == ev.action || m.name == logged)
            .collect();
        match exact.as_slice() {
            [one] => Lookup::Found(one),
            [] => Self::ambiguous(several.iter().copied()),
            // Two files map the same name for the same source: never pick one.
            _ => Self::ambiguous(exact.into_iter()),
        }
    }

    fn ambiguous<'a>(maps: impl Iterator<Item = &'a Mapping>) -> Lookup<'a> {
        let mut types: Vec<String> = maps
            .flat_map(|m| m.targets.iter().map(|t| t.rtype.clone()))
            .collect();
        types.sort();
        types.dedup();
        Lookup::Ambiguous(types)
    }

    /// Number of (provider, event name) pairs mapped.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_action.len()
    }

    /// The profile's `catalog:` paths whose files were laid over this catalog: the live
    /// pipeline watches them and reloads on change (empty: nothing to watch).
    #[must_use]
    pub fn user_specs(&self) -> &[String] {
        &self.user_specs
    }

    /// True when nothing is mapped.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_action.is_empty()
    }

    /// Every mapped (provider, event name as catalogued, event source) triple, sorted: what
    /// tests check has a case.
    #[must_use]
    pub fn names(&self) -> Vec<(Provider, String, Option<String>)> {
        let mut out: Vec<(Provider, String, Option<String>)> = self
            .by_action
            .iter()
            .flat_map(|((p, _), maps)| maps.iter().map(|m| (*p, m.name.clone(), m.source.clone())))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// How many mappings each (provider, catalogued name, source) has, as
    /// `provider:source:name`: more than one means two entries claim the same call.
    #[must_use]
    pub fn name_counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for ((p, _), maps) in &self.by_action {
            for m in maps {
                let key = format!(
                    "{}:{}:{}",
                    p.as_str(),
                    m.source.as_deref().unwrap_or_default(),
                    m.name
                );
                *out.entry(key).or_insert(0) += 1;
            }
        }
        out
    }

    /// Every target of every mapping with the file it comes from: (provider, file, type,
    /// attribute paths), for schema checks.
    #[must_use]
    pub fn targets(&self) -> Vec<(Provider, &str, &Target)> {
        self.by_action
            .iter()
            .flat_map(|((p, _), maps)| {
                maps.iter().flat_map(move |m| {
                    m.all_targets()
                        .into_iter()
                        .map(move |t| (*p, m.file.as_str(), t))
                })
            })
            .collect()
    }

    /// Every Terraform type the catalog can produce, per provider.
    #[must_use]
    pub fn types(&self) -> BTreeMap<Provider, Vec<String>> {
        let mut out: BTreeMap<Provider, Vec<String>> = BTreeMap::new();
        for ((p, _), maps) in &self.by_action {
            let e = out.entry(*p).or_default();
            for m in maps {
                for t in m.all_targets() {
                    e.push(t.rtype.clone());
                    e.extend(t.type_by_prefix.iter().map(|(_, v)| v.clone()));
                }
            }
        }
        for v in out.values_mut() {
            v.sort();
            v.dedup();
        }
        out
    }

    /// Coverage by provider and event source.
    #[must_use]
    pub fn coverage(&self) -> Vec<Coverage> {
        let mut rows: BTreeMap<(String, String), (usize, usize, Vec<String>)> = BTreeMap::new();
        for ((p, _), maps) in &self.by_action {
            for m in maps {
                let row = rows
                    .entry((p.as_str().to_string(), m.source.clone().unwrap_or_default()))
                    .or_default();
                row.0 += 1;
                if m.all_targets().iter().any(|t| !t.attributes.is_empty()) {
                    row.1 += 1;
                }
                row.2
                    .extend(m.all_targets().iter().map(|t| t.rtype.clone()));
            }
        }
        rows.into_iter()
            .map(
                |((provider, source), (events, with_attributes, mut types))| {
                    types.sort();
                    types.dedup();
                    Coverage {
                        provider,
                        source,
                        events,
                        with_attributes,
                        types,
                    }
                },
            )
            .collect()
    }
}

fn collect_embedded<'a>(dir: &'a Dir<'a>, out: &mut Vec<(String, &'a str)>) {
    for f in dir.files() {
        let path = f.path().to_string_lossy().to_string();
        if (path.ends_with(".yaml") || path.ends_with(".yml"))
            && let Some(text) = f.contents_utf8()
        {
            out.push((format!("assets/catalog/{path}"), text));
        }
    }
    for d in dir.dirs() {
        collect_embedded(d, out);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
}
