//! The embedded catalog compiles and maps its own examples.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tfdrift::catalog::Catalog;

#[test]
fn embedded_catalog_compiles() {
    let cat = Catalog::embedded().expect("embedded catalog must compile");
    assert!(cat.len() > 100, "only {} events mapped", cat.len());
}
