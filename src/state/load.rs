//! Loading state from local paths (files, directories) and embedded assets into one index.
//! A file that fails to load is reported and skipped: one corrupt state must not blind the
//! monitor to every other.

use std::path::{Path, PathBuf};

use super::index::StateIndex;
use super::parse::{Resource, StateError, parse_state};
use crate::config::EMBEDDED_PREFIX;

/// A state file that did not load, and why.
#[derive(Debug)]
pub struct LoadFailure {
    /// Path as given.
    pub file: String,
    /// Reason.
    pub error: StateError,
}

/// How deep state directories are searched (a directory symlink to a parent would otherwise
/// recurse until the path is too long).
const MAX_DEPTH: usize = 8;

/// Files a directory contributes: `*.tfstate` (incl. `terraform.tfstate.d/<ws>/terraform.tfstate`),
/// not backups.
fn state_files_in(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') && name != ".terraform" {
            continue;
        }
        if p.is_dir() {
            if name != ".terraform" && depth < MAX_DEPTH {
                state_files_in(&p, depth + 1, out)?;
            }
        } else if name.ends_with(".tfstate") {
            out.push(p);
        }
    }
    Ok(())
}

/// Loads every state named by `paths` (files, directories, `embedded:…`).
#[must_use]
pub fn load_states(paths: &[String]) -> (StateIndex, Vec<LoadFailure>) {
    let mut resources: Vec<Resource> = Vec::new();
    let mut failures = Vec::new();
    let load = |name: String,
                bytes: &[u8],
                resources: &mut Vec<Resource>,
                failures: &mut Vec<LoadFailure>| match parse_state(&name, bytes) {
        Ok(mut r) => resources.append(&mut r),
        Err(error) => failures.push(LoadFailure { file: name, error }),
    };
    for p in paths {
        if let Some(emb) = p.strip_prefix(EMBEDDED_PREFIX) {
            match crate::assets::file(emb) {
                Some(bytes) => load(p.clone(), bytes, &mut resources, &mut failures),
                None => failures.push(LoadFailure {
                    file: p.clone(),
                    error: StateError::NotFound { file: p.clone() },
                }),
            }
            continue;
        }
        let path = Path::new(p);
        let files = if path.is_dir() {
            let mut v = Vec::new();
            if let Err(e) = state_files_in(path, 0, &mut v) {
                failures.push(LoadFailure {
                    file: p.clone(),
                    error: StateError::io(p, &e),
                });
            }
            v
        } else {
            vec![path.to_path_buf()]
        };
        for f in files {
            let name = f.display().to_string();
            // A FIFO or device would block the read or never end: regular files only.
            if let Ok(m) = std::fs::metadata(&f)
                && !m.is_file()
            {
                failures.push(LoadFailure {
                    error: StateError::Io {
                        file: name.clone(),
                        message: "not a regular file (a FIFO, socket or device?)".into(),
                    },
                    file: name,
                });
                continue;
            }
            match std::fs::read(&f) {
                Ok(bytes) => load(name, &bytes, &mut resources, &mut failures),
                Err(e) => failures.push(LoadFailure {
                    error: StateError::io(&name, &e),
                    file: name,
                }),
            }
        }
    }
    (StateIndex::new(resources), failures)
}
