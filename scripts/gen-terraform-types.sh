#!/usr/bin/env bash
# Regenerates assets/catalog/terraform_types_aws.txt from the real AWS provider schema
# (provider 5.100.0 from the filesystem mirror at /opt/tf-plugins; no network).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/cli.tfrc" <<'TFRC'
provider_installation {
  filesystem_mirror {
    path    = "/opt/tf-plugins"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
TFRC
cat >"$work/main.tf" <<'TF'
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
TF
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
(cd "$work" && terraform init -input=false >/dev/null)
(cd "$work" && terraform providers schema -json) >"$work/schema.json"
jq -r '.provider_schemas[].resource_schemas|keys[]' "$work/schema.json" | sort \
  >"$root/assets/catalog/terraform_types_aws.txt"
if [ "${1:-}" = "--attrs" ]; then
  python3 "$root/scripts/catalog/extract_attrs.py" "$work/schema.json"
fi
