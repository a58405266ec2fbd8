//! A profile's own catalog files (`catalog: [./my-mappings/]`): the built-in format, loaded
//! after the embedded catalog, where an entry **overrides** the built-in mappings of the same
//! call (same provider, event name and source), so users map a service or fix a mapping
//! without waiting for a release. Each file is validated like a rule file: YAML and schema
//! errors with line and column, unknown fields and unknown Terraform types with a
//! did-you-mean.

use std::path::{Path, PathBuf};

use super::{Catalog, CatalogError, action_key};
use crate::rules::diag::did_you_mean;
use crate::rules::yaml::Pos;

/// Largest catalog file read (the built-in ones are under 200 KiB).
const MAX_FILE_BYTES: u64 = 8 << 20;

/// A user catalog file that was loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Loaded {
    /// The file.
    pub file: String,
    /// Event names it maps (each name of a multi-name entry counted).
    pub events: usize,
    /// Of those, names that replaced built-in mappings.
    pub overrides: usize,
    /// Warnings (an unknown `google_*` type not close to a known one).
    pub warnings: Vec<String>,
}

/// Why the user catalog does not load: every problem of every file, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct UserCatalogError {
    /// `file:line:column: error: …` lines.
    pub problems: Vec<String>,
}

/// The catalog files a profile's `catalog:` entries name: files as given, directories
/// searched (recursively, sorted) for `*.yaml` / `*.yml`.
///
/// # Errors
/// A path that does not exist or cannot be listed.
pub fn files(specs: &[String]) -> Result<Vec<PathBuf>, UserCatalogError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for spec in specs {
        let path = Path::new(spec);
        if path.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(path, &mut found) {
                problems.push(format!("{spec}: cannot list the catalog directory: {e}"));
            }
            found.sort();
            if found.is_empty() {
                problems.push(format!(
                    "{spec}: no catalog files (*.yaml) in this directory; fix `catalog:` in the profile"
                ));
            }
            out.extend(found);
        } else if path.is_file() {
            out.push(path.to_path_buf());
        } else {
            problems.push(format!(
                "{spec}: no such catalog file or directory; fix `catalog:` in the profile"
            ));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(UserCatalogError { problems })
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads the profile's catalog files over `catalog`, in order (a later file overrides an
/// earlier one). Nothing is added unless every file is valid.
///
/// # Errors
/// Every problem of every file, each naming the file, line and column and the fix.
pub fn load(catalog: &mut Catalog, specs: &[String]) -> Result<Vec<Loaded>, UserCatalogError> {
    let paths = files(specs)?;
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for path in &paths {
        let name = path.display().to_string();
        let text = match read(path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        match check(&name, &text) {
            Ok((one, warnings)) => parsed.push((name, one, warnings)),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(UserCatalogError { problems });
    }
    catalog.user_specs.extend(specs.iter().cloned());
    Ok(parsed
        .into_iter()
        .map(|(file, one, warnings)| {
            let (events, overrides) = catalog.overlay(one);
            Loaded {
                file,
                events,
                overrides,
                warnings,
            }
        })
        .collect())
}

fn read(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "{len} bytes: larger than the {MAX_FILE_BYTES}-byte limit for a catalog file; split it"
        ));
    }
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read: {e} (catalog files are UTF-8 YAML)"))
}

/// Compiles one file on its own and checks its Terraform types: the file as a catalog, and
/// its warnings; or every problem found.
fn check(name: &str, text: &str) -> Result<(Catalog, Vec<String>), Vec<String>> {
    let mut one = Catalog::default();
    if let Err(e) = one.add_file(name, text) {
        return Err(vec![describe(name, &e)]);
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut types: Vec<&str> = one
        .targets()
        .into_iter()
        .map(|(_, _, t)| t.rtype.as_str())
        .collect();
    types.sort_unstable();
    types.dedup();
    for rtype in types {
        if let Some(d) = crate::rules::types::check_type(name, position(text, rtype), rtype) {
            if d.is_error() {
                problems.push(d.to_string());
            } else {
                warnings.push(d.to_string());
            }
        }
    }
    if problems.is_empty() {
        Ok((one, warnings))
    } else {
        Err(problems)
    }
}

/// A load error as one line; an unknown field gets a did-you-mean from serde's list.
fn describe(name: &str, e: &CatalogError) -> String {
    let text = e.to_string();
    let CatalogError::Parse { message, .. } = e else {
        return text;
    };
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return text;
    };
    let Some((field, tail)) = rest.split_once('`') else {
        return text;
    };
    // serde's list, with or without backticks: "expected one of `a`, `b`" / "expected one of a, b".
    let list = tail
        .split_once("expected one of ")
        .map_or("", |(_, l)| l.lines().next().unwrap_or_default());
    let expected: Vec<&str> = list
        .split(", ")
        .map(|w| w.trim().trim_matches('`'))
        .filter(|w| !w.is_empty())
        .collect();
    match did_you_mean(field, expected) {
        Some(s) => format!("{text} (did you mean `{s}`?)"),
        None => format!("{name}: {message}"),
    }
}

/// Where `rtype` is first written in `text` (a `type:` line), for the diagnostic.
fn position(text: &str, rtype: &str) -> Pos {
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(rtype) {
            let before = &line[..col];
            return Pos {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(before.chars().count() + 1).unwrap_or(u32::MAX),
            };
        }
    }
    Pos { line: 0, column: 0 }
}

impl Catalog {
    /// Adds `other`'s mappings, each replacing this catalog's mappings of the same call:
    /// same provider and version-free name, and the same event source (a source-less entry
    /// replaces every source's). An operational name in `other` wins over a mapping here,
    /// and a mapping in `other` clears an operational mark here. Returns (names added,
    /// names that replaced something).
    fn overlay(&mut self, other: Catalog) -> (usize, usize) {
        let mut added = 0;
        let mut replaced = 0;
        for (key, maps) in other.by_action {
            let existing = self.by_action.entry(key.clone()).or_default();
            let before = existing.len();
            existing.retain(|old| {
                !maps
                    .iter()
                    .any(|new| new.source.is_none() || new.source == old.source)
            });
            let op_removed = self.operational.remove(&key).is_some();
            if existing.len() < before || op_removed {
                replaced += maps.len();
            }
            added += maps.len();
            existing.extend(maps);
        }
        for (key, sources) in other.operational {
            if self.by_action.remove(&key).is_some() {
                replaced += 1;
            }
            self.operational.entry(key).or_default().extend(sources);
        }
        (added, replaced)
    }

    /// Every mapping of `name` (any API version, any source) with its file, for
    /// `tfdrift catalog show`; `operational` when the name is only counted as an operation.
    #[must_use]
    pub fn explain(&self, name: &str) -> Vec<Shown<'_>> {
        let mut out = Vec::new();
        for provider in [crate::event::Provider::Aws, crate::event::Provider::Gcp] {
            let key = (provider, action_key(provider, name).into_owned());
            if let Some(sources) = self.operational.get(&key) {
                out.push(Shown::Operational {
                    provider,
                    sources: sources.iter().map(|s| s.as_deref()).collect(),
                });
            }
            for m in self.by_action.get(&key).into_iter().flatten() {
                out.push(Shown::Mapping {
                    provider,
                    mapping: m,
                });
            }
        }
        out
    }
}

/// What `tfdrift catalog show` found for a name.
#[derive(Debug)]
pub enum Shown<'a> {
    /// The name is a runtime operation (start/stop/reboot) for these sources (`None`: any).
    Operational {
        /// Provider.
        provider: crate::event::Provider,
        /// Event sources.
        sources: Vec<Option<&'a str>>,
    },
    /// A mapping.
    Mapping {
        /// Provider.
        provider: crate::event::Provider,
        /// The mapping, with its file.
        mapping: &'a super::Mapping,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OVERRIDE: &str = "provider: aws\nsource: ec2.amazonaws.com\nevents:\n  - name: ModifyInstanceAttribute\n    kind: update\n    id: request.instanceId\n    type: aws_instance\n";

    #[test]
    fn user_entry_overrides_the_builtin_one_and_says_where_it_comes_from() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.yaml"), OVERRIDE).unwrap();
        let mut cat = Catalog::embedded().unwrap();
        let before = cat.explain("ModifyInstanceAttribute");
        assert!(
            before.iter().any(
                |s| matches!(s, Shown::Mapping { mapping, .. } if mapping.file.contains("aws/"))
            ),
            "{before:?}"
        );
        let loaded = load(&mut cat, &[dir.path().display().to_string()]).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].events, 1);
        assert_eq!(loaded[0].overrides, 1);
        let after = cat.explain("ModifyInstanceAttribute");
        let files: Vec<&str> = after
            .iter()
            .filter_map(|s| match s {
                Shown::Mapping { mapping, .. } => Some(mapping.file.as_str()),
                Shown::Operational { .. } => None,
            })
            .collect();
        assert_eq!(files.len(), 1, "{after:?}");
        assert!(files[0].ends_with("mine.yaml"), "{files:?}");
    }

    #[test]
    fn unknown_type_is_refused_with_position_and_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let bad = OVERRIDE.replace("aws_instance", "aws_instanse");
        std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
        let mut cat = Catalog::embedded().unwrap();
        let n = cat.len();
        let err = load(&mut cat, &[dir.path().display().to_string()]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad.yaml:7:11"), "{text}");
        assert!(text.contains("did you mean 'aws_instance'"), "{text}");
        assert_eq!(cat.len(), n, "nothing added from an invalid file");
    }

    #[test]
    fn unknown_field_gets_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("f.yaml"),
            OVERRIDE.replace("kind:", "knid:"),
        )
        .unwrap();
        let err = load(&mut Catalog::default(), &[dir.path().display().to_string()]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("f.yaml"), "{text}");
        assert!(text.contains("did you mean `kind`"), "{text}");
    }

    #[test]
    fn missing_path_and_empty_directory_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = files(&[
            dir.path().display().to_string(),
            "/nonexistent/catalog".into(),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].contains("no catalog files"), "{err}");
        assert!(err.problems[1].contains("no such catalog file"), "{err}");
    }

    #[test]
    fn operational_entry_in_a_user_file_silences_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ops.yaml"),
            "provider: aws\nsource: ec2.amazonaws.com\noperational: [ModifyInstanceAttribute]\n",
        )
        .unwrap();
        let mut cat = Catalog::embedded().unwrap();
        load(&mut cat, &[dir.path().display().to_string()]).unwrap();
        let shown = cat.explain("ModifyInstanceAttribute");
        assert!(
            matches!(shown.as_slice(), [Shown::Operational { .. }]),
            "{shown:?}"
        );
    }
}
