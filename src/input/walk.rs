//! Expanding input paths: a directory walk that reads only regular event files, each file and
//! directory once by device and inode (symlink loops end, a self-link is read once), and says
//! what it left out (FIFOs, sockets, devices, broken or looping links).

use std::path::{Path, PathBuf};

use super::InputError;

/// Why a path was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The path as found.
    pub path: String,
    /// Stable counter name: `not_regular_file`, `already_read`, `unreadable`.
    pub kind: &'static str,
    /// What it is or what failed.
    pub detail: String,
}

/// The files a set of inputs expands to, and the paths a directory walk left out.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Files to read, in order.
    pub files: Vec<PathBuf>,
    /// Directory entries not read (FIFOs, sockets, links back to what was read, broken links).
    pub unread: Vec<Unread>,
}

/// Expands inputs: files stay, directories are walked recursively (sorted, hidden files skipped),
/// `-` means stdin. Paths a walk leaves out are logged; [`expand_inputs_report`] returns them.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let ex = expand_inputs_report(inputs)?;
    for u in &ex.unread {
        tracing::warn!(path = %u.path, kind = u.kind, detail = %u.detail, "Input not read");
    }
    Ok(ex.files)
}

/// [`expand_inputs`], returning what was left out. A path named on the command line is read
/// whatever it is (`<(zcat …)` is a pipe); inside a directory only regular files are, each
/// directory and file once (by device and inode), so symlink loops end.
pub fn expand_inputs_report(inputs: &[PathBuf]) -> Result<Expanded, InputError> {
    let mut ex = Expanded::default();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            ex.files.push(input.clone());
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|source| InputError::Io {
            path: input.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            if let Some(id) = crate::fsutil::file_id(&meta) {
                seen.insert(id);
            }
            walk(input, &mut ex, &mut seen)?;
        } else {
            if let Some(id) = crate::fsutil::file_id(&meta).filter(|_| meta.is_file()) {
                seen.insert(id);
            }
            ex.files.push(input.clone());
        }
    }
    Ok(ex)
}

fn walk(
    dir: &Path,
    ex: &mut Expanded,
    seen: &mut std::collections::HashSet<crate::fsutil::FileId>,
) -> Result<(), InputError> {
    let io = |source| InputError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        let unread = |kind, detail: String| Unread {
            path: path.display().to_string(),
            kind,
            detail,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                if is_event_file(&path) || path.is_symlink() {
                    ex.unread.push(unread("unreadable", e.to_string()));
                }
                continue;
            }
        };
        if !meta.is_dir() && !is_event_file(&path) {
            continue;
        }
        if let Some(what) = crate::fsutil::not_regular(&meta) {
            ex.unread
                .push(unread("not_regular_file", format!("is {what}")));
            continue;
        }
        if let Some(id) = crate::fsutil::file_id(&meta)
            && !seen.insert(id)
        {
            let what = if meta.is_dir() { "directory" } else { "file" };
            ex.unread.push(unread(
                "already_read",
                format!("a link to a {what} already read (symlink loop or duplicate link)"),
            ));
            continue;
        }
        if meta.is_dir() {
            walk(&path, ex, seen)?;
        } else {
            ex.files.push(path);
        }
    }
    Ok(())
}

/// Files a directory walk picks up: JSON, JSON lines and their gzipped forms.
fn is_event_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".ndjson")
}
