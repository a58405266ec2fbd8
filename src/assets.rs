//! Files embedded in the binary: the event catalog, the demo (state + recorded events) and the
//! shipped rule packs. Paths written `embedded:demo/events.jsonl` in configs resolve here.

use include_dir::{Dir, include_dir};

/// `assets/` (catalog, demo).
static ASSETS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets");
/// `rules/` (shipped rule packs).
static RULES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// The bytes of an embedded file: `demo/events.jsonl`, `catalog/aws/ec2.yaml`, `rules/x.yaml`.
#[must_use]
pub fn file(path: &str) -> Option<&'static [u8]> {
    let path = path.trim_start_matches('/');
    if let Some(rest) = path.strip_prefix("rules/") {
        return RULES.get_file(rest).map(include_dir::File::contents);
    }
    ASSETS.get_file(path).map(include_dir::File::contents)
}

/// Every embedded file under a directory (`rules`, `demo`), as (path, bytes), sorted.
#[must_use]
pub fn dir(path: &str) -> Vec<(String, &'static [u8])> {
    let path = path.trim_matches('/');
    let (root, sub, prefix) = if path == "rules" || path.starts_with("rules/") {
        (
            &RULES,
            path.strip_prefix("rules")
                .unwrap_or("")
                .trim_start_matches('/'),
            "rules/",
        )
    } else {
        (&ASSETS, path, "")
    };
    let d = if sub.is_empty() {
        Some(root)
    } else {
        root.get_dir(sub)
    };
    let mut out = Vec::new();
    if let Some(d) = d {
        collect(d, prefix, &mut out);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn collect(d: &'static Dir<'static>, prefix: &str, out: &mut Vec<(String, &'static [u8])>) {
    for f in d.files() {
        out.push((format!("{prefix}{}", f.path().display()), f.contents()));
    }
    for sub in d.dirs() {
        collect(sub, prefix, out);
    }
}
