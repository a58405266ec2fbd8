#!/usr/bin/env python3
"""Writes assets/catalog/terraform_attrs_aws.json: for every AWS Terraform type the catalog
references, its top-level attribute and block names from the real provider schema.

Usage: extract_attrs.py SCHEMA_JSON   (output of `terraform providers schema -json`;
scripts/gen-terraform-types.sh --attrs runs it)."""
import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def catalog_types():
    types = set()
    for f in sorted((ROOT / "assets/catalog/aws").rglob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        for ev in doc.get("events", []):
            for part in [ev] + ev.get("also", []):
                for t in [part] + part.get("alternatives", []) + part.get("otherwise", []):
                    types.add(t["type"])
                    types.update((t.get("type_by_prefix") or {}).values())
    return types


def main():
    schema = json.load(open(sys.argv[1]))
    resources = {}
    for p in schema["provider_schemas"].values():
        resources.update(p["resource_schemas"])
    out = {}
    for t in sorted(catalog_types()):
        if t not in resources:
            continue  # reported by tests/catalog_types.rs
        block = resources[t]["block"]
        names = list(block.get("attributes", {})) + list(block.get("block_types", {}))
        out[t] = sorted(names)
    path = ROOT / "assets/catalog/terraform_attrs_aws.json"
    path.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"{path}: {len(out)} types")


if __name__ == "__main__":
    main()
