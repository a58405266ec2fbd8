//! Every Terraform state in the corpus loads, with the managed-resource count its manifest
//! (written when the corpus was collected) gives: data sources are never drift targets.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use serde_json::Value;
use tfdrift::state::parse_state;

/// Every state a manifest lists loads with the managed-resource count the manifest gives.
fn manifest_states_load(dir: &std::path::Path, want_files: usize) {
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest.len(), want_files);
    for entry in &manifest {
        let file = entry["file"].as_str().unwrap();
        let want: u64 = entry["types"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with("data."))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let resources = parse_state(file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(resources.len() as u64, want, "{file}");
        assert!(
            resources.iter().all(|r| !r.address.starts_with("data.")),
            "{file}"
        );
    }
}

#[test]
fn every_manifest_state_loads_with_its_managed_count() {
    manifest_states_load(&common::corpus().join("tfstate"), 16);
}

#[test]
fn every_extended_manifest_state_loads_with_its_managed_count() {
    if let Some(dir) = common::extended("tfstate/_manifest.json") {
        manifest_states_load(dir.parent().unwrap(), 43);
    }
}

#[test]
fn opentofu_roundtrip_fixtures_load_including_legacy_and_duplicate_keys() {
    let dir = common::corpus().join("tfstate/opentofu__opentofu/roundtrip");
    let expect = [
        ("v4-cbd.in.tfstate", 1),
        ("v4-foreach.in.tfstate", 1),
        ("v4-future.in.tfstate", 3),
        ("v4-legacy-foreach.in.tfstate", 1),
        ("v4-legacy-foreach.out.tfstate", 1),
        ("v4-legacy-modules.in.tfstate", 4),
        ("v4-legacy-modules.out.tfstate", 4),
        ("v4-legacy-simple.in.tfstate", 3),
        ("v4-legacy-simple.out.tfstate", 3),
        ("v4-modules.in.tfstate", 4),
        ("v4-simple.in.tfstate", 3),
    ];
    for (file, n) in expect {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let r = parse_state(file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(r.len(), n, "{file}");
    }
    // Module addresses with for_each keys.
    let bytes = std::fs::read(dir.join("v4-modules.in.tfstate")).unwrap();
    let r = parse_state("m", &bytes).unwrap();
    assert!(
        r.iter()
            .any(|x| x.address == "module.modB.null_resource.bar[\"a\"]")
    );
}

#[test]
fn truncated_state_is_rejected_with_position() {
    let dir = common::corpus().join("tfstate");
    let bytes =
        std::fs::read(dir.join("bufbuild__terraform-modules-bufstream/aws/terraform.tfstate"))
            .unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let err = parse_state("half.tfstate", cut).unwrap_err().to_string();
    assert!(
        err.contains("half.tfstate") && err.contains("line"),
        "{err}"
    );
}
