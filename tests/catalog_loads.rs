//! The embedded catalog compiles and maps its own examples.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tfdrift::catalog::Catalog;

#[test]
fn embedded_catalog_compiles() {
    let cat = Catalog::embedded().expect("embedded catalog must compile");
    assert!(cat.len() > 100, "only {} events mapped", cat.len());
}

/// No event name is mapped twice for one source (hand-written and generated files, or two
/// entries of one file): lookup would have to pick one, and it never guesses.
#[test]
fn no_event_is_mapped_twice_for_one_source() {
    let cat = Catalog::embedded().unwrap();
    let twice: Vec<_> = cat
        .name_counts()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    assert!(twice.is_empty(), "mapped more than once: {twice:#?}");
}
