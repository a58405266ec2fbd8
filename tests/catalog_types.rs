//! Every Terraform type the catalog names exists in the provider (AWS: the real provider 5.100
//! schema, `assets/catalog/terraform_types_aws.txt`; Google: the reviewed list
//! `assets/catalog/terraform_types_google.txt`), and every AWS attribute path starts with a
//! top-level attribute or block of its type (`assets/catalog/terraform_attrs_aws.json`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::path::Path;

use tfdrift::catalog::Catalog;
use tfdrift::event::Provider;

fn list(name: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/catalog")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_type_exists_in_its_provider() {
    let cat = Catalog::embedded().unwrap();
    let aws = list("terraform_types_aws.txt");
    let google = list("terraform_types_google.txt");
    let mut unknown = BTreeSet::new();
    for (provider, types) in cat.types() {
        let known = match provider {
            Provider::Aws => &aws,
            Provider::Gcp => &google,
        };
        for t in types {
            if !known.contains(&t) {
                unknown.insert(format!("{}: {t}", provider.as_str()));
            }
        }
    }
    assert!(unknown.is_empty(), "unknown Terraform types: {unknown:#?}");
}

#[test]
fn every_aws_attribute_path_exists() {
    let cat = Catalog::embedded().unwrap();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/catalog/terraform_attrs_aws.json");
    let attrs: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut bad = BTreeSet::new();
    for (provider, file, target) in cat.targets() {
        if provider != Provider::Aws {
            continue;
        }
        let types: Vec<&String> = std::iter::once(&target.rtype)
            .chain(target.type_by_prefix.iter().map(|(_, t)| t))
            .collect();
        for t in types {
            let Some(known) = attrs[t.as_str()].as_array() else {
                bad.insert(format!("{file}: {t} missing from terraform_attrs_aws.json"));
                continue;
            };
            let has = |name: &str| known.iter().any(|k| k == name);
            for a in &target.attributes {
                let first = a.path.split('.').next().unwrap_or_default();
                if !has(first) {
                    bad.insert(format!("{file}: {t}.{}", a.path));
                }
            }
            for (attr, _) in &target.match_attrs {
                if !has(attr) {
                    bad.insert(format!("{file}: {t} match on {attr}"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "attribute paths not in the provider schema: {bad:#?}"
    );
}
