//! Where the tests' real-world corpus lives: the redistributable part is in the repository
//! (`tests/corpus/`, provenance in its NOTICE.md); the rest (Terraform states whose repositories
//! declare no licence) is the extended tier, read from the directory `TFDRIFT_CORPUS` names.
//! `.ci/run` sets it and fails when it is missing; a bare clone runs without it.
#![allow(dead_code, clippy::expect_used)]

use std::path::PathBuf;

/// The in-repository corpus, `tests/corpus/`.
pub fn corpus() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    assert!(
        p.join("INDEX.json").exists(),
        "the test corpus is missing at {}: it is part of the repository (git checkout tests/corpus)",
        p.display()
    );
    p
}

/// The extended corpus named by `TFDRIFT_CORPUS`, when set; it must then hold `rel`.
/// When unset, says on stderr which test input is not redistributable and returns `None`: the
/// caller returns early (the extended tier runs in CI, where `TFDRIFT_CORPUS` is required).
pub fn extended(rel: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("TFDRIFT_CORPUS").filter(|v| !v.is_empty()) else {
        eprintln!(
            "extended tier not run: this test needs {rel}, which is not in the repository \
             (no redistribution licence); set TFDRIFT_CORPUS to the team's corpus to run it"
        );
        return None;
    };
    let p = PathBuf::from(dir).join(rel);
    assert!(
        p.exists(),
        "TFDRIFT_CORPUS is set but {} does not exist: point TFDRIFT_CORPUS at the full corpus \
         (the folder holding INDEX.json, tfstate/, cloudtrail/, gcpaudit/)",
        p.display()
    );
    Some(p)
}

/// `rel` from the in-repository corpus when it is there, else from the extended tier.
pub fn file(rel: &str) -> Option<PathBuf> {
    let p = corpus().join(rel);
    if p.exists() { Some(p) } else { extended(rel) }
}
