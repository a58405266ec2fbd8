#!/usr/bin/env bash
# Regenerates assets/catalog/terraform_types_aws.txt: every resource type of the AWS provider,
# read from `terraform providers schema -json` (used by `tfdrift rules validate` to flag unknown
# `resource_types`). Needs terraform and the AWS provider 5.100.0 in the filesystem mirror
# /opt/tf-plugins (no network). The google list (terraform_types_google.txt) is hand-written.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/cli.tfrc" <<'TFRC'
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
cat > "$work/main.tf" <<'TF'
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
TF
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
terraform -chdir="$work" init -input=false -no-color >/dev/null
terraform -chdir="$work" providers schema -json \
  | jq -r '.provider_schemas[].resource_schemas|keys[]' \
  | LC_ALL=C sort -u > "$repo/assets/catalog/terraform_types_aws.txt"
wc -l "$repo/assets/catalog/terraform_types_aws.txt"
