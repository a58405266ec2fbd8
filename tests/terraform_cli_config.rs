//! The terraform CLI config (providers from the filesystem mirror only) exists once, in
//! `tests/tf_support/cli.tfrc`, for the Rust terraform tests and `scripts/proof/run.sh` alike.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::tf_support;

use std::path::Path;

/// The terraform CLI config exists once (`tests/tf_support/cli.tfrc`): the Rust helper renders
/// it, `scripts/proof/run.sh` renders the same file, and no test or proof script writes an
/// installation block of its own.
#[test]
fn terraform_cli_config_is_the_shared_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mirror = Path::new("/some/mirror");
    let rendered = tf_support::cli_config(mirror);
    assert!(!rendered.contains("@MIRROR@"), "{rendered}");
    for needle in [
        "path    = \"/some/mirror\"",
        "include = [\"registry.terraform.io/*/*\"]",
        "exclude = [\"registry.terraform.io/*/*\"]",
    ] {
        assert!(
            rendered.contains(needle),
            "{needle} missing from\n{rendered}"
        );
    }
    let script = std::fs::read_to_string(root.join("scripts/proof/run.sh")).unwrap();
    assert!(
        script.contains("tests/tf_support/cli.tfrc"),
        "scripts/proof/run.sh must render the shared CLI config"
    );
    let mut own = Vec::new();
    let mut files = vec![root.join("scripts/proof")];
    files.extend(
        std::fs::read_dir(root.join("tests"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let is_code = p
            .extension()
            .is_some_and(|e| e == "rs" || e == "sh" || e == "py");
        if is_code
            && std::fs::read_to_string(&p)
                .unwrap_or_default()
                .contains(&["provider", "installation"].join("_"))
        {
            own.push(p);
        }
    }
    assert!(
        own.is_empty(),
        "these write their own terraform CLI config; use tests/tf_support/cli.tfrc: {own:?}"
    );
}
