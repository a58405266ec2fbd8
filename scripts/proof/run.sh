#!/usr/bin/env bash
# tfdrift proof against Terraform itself (driver; the assertions are in
# tests/terraform_refresh_only.rs, which runs this script).
#
#   scripts/proof/run.sh OUT_DIR
#
#   1. starts a moto server on a free local port (killed on exit),
#   2. `terraform init` + `terraform apply` of scripts/proof/main.tf (27 resources, 23 types),
#   3. copies the state Terraform wrote to OUT_DIR/terraform.tfstate,
#   4. runs scripts/proof/out_of_band.py: real boto3 calls against moto, and one CloudTrail record
#      per call in OUT_DIR/events.jsonl (plus OUT_DIR/calls.json: what moto answered),
#   5. runs `terraform plan -refresh-only -json` and extracts Terraform's `resource_drift` into
#      OUT_DIR/drift.json as [{address, action, changes: {attr_path: {before, after}}}] with dotted
#      leaf paths (scripts/proof/refresh_drift.py).
#
# Needs: terraform >= 1.5; the hashicorp/aws 5.100.0 provider in the filesystem mirror
# $TF_PLUGIN_MIRROR (default /opt/tf-plugins); python3 with moto[server] and boto3 (the repository's
# .venv, made by scripts/ci-deps.sh, is preferred when present). Nothing is downloaded.
#
# Environment: PYTHON (interpreter), TF_PLUGIN_MIRROR, KEEP_WORK=1 (keep the terraform work dir).
set -euo pipefail

SECONDS=0
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1"
out_dir="$(cd "$1" && pwd)"

log() { printf '[proof %3ds] %s\n' "$SECONDS" "$*" >&2; }
step_start=0
timing() { printf '[proof] timing: %-28s %3ds\n' "$1" "$((SECONDS - step_start))" >&2; step_start=$SECONDS; }

# ------------------------------------------------------------------ prerequisites
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$repo_root/.venv/bin/python" ]] && "$repo_root/.venv/bin/python" -c 'import boto3, moto.server' 2>/dev/null; then
    PYTHON="$repo_root/.venv/bin/python"
  else
    PYTHON=python3
  fi
fi
missing=()
command -v terraform >/dev/null 2>&1 || missing+=("terraform (>= 1.5) on PATH")
mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
[[ -d "$mirror/registry.terraform.io/hashicorp/aws/5.100.0" ]] ||
  missing+=("the hashicorp/aws 5.100.0 provider in the filesystem mirror $mirror (registry.terraform.io/hashicorp/aws/5.100.0/...)")
"$PYTHON" -c 'import boto3, moto.server' 2>/dev/null ||
  missing+=("python with moto[server] and boto3 (run scripts/ci-deps.sh, or: pip install 'moto[server]' boto3); tried $PYTHON")
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "scripts/proof/run.sh: missing prerequisites:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 3
fi

# ------------------------------------------------------------------ workspace and cleanup
work="$(mktemp -d -t tfdrift-proof.XXXXXX)"
moto_pid=""
cleanup() {
  local rc=$?
  if [[ -n "$moto_pid" ]] && kill -0 "$moto_pid" 2>/dev/null; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    for f in moto.log init.log apply.log; do
      [[ -f "$work/$f" ]] && { echo "---- last lines of $f" >&2; tail -n 40 "$work/$f" >&2; }
    done
  fi
  if [[ "${KEEP_WORK:-0}" == 1 || $rc -ne 0 ]]; then
    log "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ moto
port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
endpoint="http://127.0.0.1:$port"
log "starting moto on $endpoint ($PYTHON)"
MOTO_IAM_LOAD_MANAGED_POLICIES=false \
  "$PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 150); do
  if "$PYTHON" -c "import urllib.request; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto exited" >&2; exit 1; }
  sleep 0.2
done
"$PYTHON" -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('$endpoint/moto-api/seed?a=42', method='POST'))"
timing "moto start"

# ------------------------------------------------------------------ terraform apply
tf_dir="$work/tf"
mkdir -p "$tf_dir"
cp "$script_dir/main.tf" "$tf_dir/"
# The CLI config shared with the Rust tests (tests/tf_support): mirror only, no downloads.
sed "s|@MIRROR@|$mirror|g" "$repo_root/tests/tf_support/cli.tfrc" >"$work/cli.tfrc"
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
export TF_VAR_moto_endpoint="$endpoint"
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION || true

tf() { terraform -chdir="$tf_dir" "$@"; }
log "terraform init"
tf init -no-color >"$work/init.log" 2>&1
timing "terraform init"
log "terraform apply"
tf apply -auto-approve -no-color -parallelism="${TF_PARALLELISM:-10}" >"$work/apply.log" 2>&1
grep -E '^Apply complete' "$work/apply.log" | sed 's/^/  /' >&2 || true
timing "terraform apply"
cp "$tf_dir/terraform.tfstate" "$out_dir/terraform.tfstate"

# ------------------------------------------------------------------ out-of-band changes + trail
log "out-of-band changes against moto"
"$PYTHON" "$script_dir/out_of_band.py" --endpoint "$endpoint" --state "$out_dir/terraform.tfstate" \
  --out "$out_dir/events.jsonl" --calls "$out_dir/calls.json"
timing "out-of-band calls"

# ------------------------------------------------------------------ Terraform's own view
log "terraform plan -refresh-only"
set +e
tf plan -refresh-only -json -no-color -out="$work/drift.tfplan" >"$out_dir/refresh-only.jsonl"
plan_rc=$?
set -e
if [[ $plan_rc -ne 0 ]]; then
  grep '"@level":"error"' "$out_dir/refresh-only.jsonl" >&2 || cat "$out_dir/refresh-only.jsonl" >&2
  exit 1
fi
tf show -json "$work/drift.tfplan" >"$work/plan.json"
"$PYTHON" "$script_dir/refresh_drift.py" "$out_dir/refresh-only.jsonl" "$work/plan.json" >"$out_dir/drift.json"
timing "terraform plan -refresh-only"

log "done: $(wc -l <"$out_dir/events.jsonl") records, $("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out_dir/drift.json") drifted resources; outputs in $out_dir"
printf '[proof] timing: %-28s %3ds\n' "total" "$SECONDS" >&2
