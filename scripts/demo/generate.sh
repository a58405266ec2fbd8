#!/usr/bin/env bash
# Regenerates the tfdrift embedded demo (assets/demo/) from scratch:
#
#   1. starts a moto server on a free local port (stopped on exit),
#   2. `terraform init` + `terraform apply` of scripts/demo/main.tf in a temporary copy,
#   3. copies the state Terraform wrote to assets/demo/terraform.tfstate (after a secret check),
#   4. runs scripts/demo/out_of_band.py, which makes the out-of-band changes against moto for
#      real and writes assets/demo/events.jsonl (CloudTrail records), assets/demo/calls.json
#      (what moto answered) and assets/demo/expected-alerts.json (what tfdrift should say),
#   5. runs `terraform plan -refresh-only` against moto and writes the attributes Terraform itself
#      sees as drifted to assets/demo/refresh-only-drift.json.
#
# Rerunnable: every run starts from an empty moto and an empty temporary directory, and overwrites
# the outputs. Takes about 1.5 minutes on the development machine (see assets/demo/README.md).
#
# Needs: terraform >= 1.5, the hashicorp/aws 5.100.0 provider (from TF_PLUGIN_MIRROR, default
# /opt/tf-plugins, when that directory exists; otherwise from the registry), python3 with
# `moto[server]` and boto3 (if python3 lacks them, a .venv is created at the repository root).
#
# Environment:
#   KEEP_WORK=1         keep the temporary directory (its path is printed) for inspection
#   TF_PLUGIN_MIRROR    filesystem mirror holding registry.terraform.io/hashicorp/aws
#   PYTHON              python interpreter to use
set -euo pipefail

SECONDS=0
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
out_dir="$repo_root/assets/demo"
mkdir -p "$out_dir"

log() { printf '[generate %3ds] %s\n' "$SECONDS" "$*" >&2; }

# ------------------------------------------------------------------ python with moto + boto3
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$repo_root/.venv/bin/python" ]]; then
    PYTHON="$repo_root/.venv/bin/python"
  else
    PYTHON=python3
  fi
fi
if ! "$PYTHON" -c 'import boto3, moto.server' 2>/dev/null; then
  log "python lacks moto[server]/boto3: creating $repo_root/.venv"
  python3 -m venv "$repo_root/.venv"
  "$repo_root/.venv/bin/pip" install --quiet 'moto[server]' boto3
  PYTHON="$repo_root/.venv/bin/python"
fi
command -v terraform >/dev/null || { echo "terraform not found on PATH" >&2; exit 1; }

# ------------------------------------------------------------------ workspace and cleanup
work="$(mktemp -d -t tfdrift-demo.XXXXXX)"
moto_pid=""
cleanup() {
  local rc=$?
  if [[ -n "$moto_pid" ]] && kill -0 "$moto_pid" 2>/dev/null; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
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
log "starting moto on $endpoint"
# AWS managed policies (arn:aws:iam::aws:policy/...) exist in moto only with this set.
MOTO_IAM_LOAD_MANAGED_POLICIES=true \
  "$PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 100); do
  if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; exit 1; }
  sleep 0.2
done
# Seed moto's id generator: ids are then reproducible as far as Terraform's call order allows.
"$PYTHON" -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('$endpoint/moto-api/seed?a=42', method='POST'))"

# ------------------------------------------------------------------ terraform apply
tf_dir="$work/tf"
mkdir -p "$tf_dir"
cp "$script_dir/main.tf" "$tf_dir/"
mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
if [[ -d "$mirror" ]]; then
  cat >"$work/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
else
  printf 'provider_installation {\n  direct {}\n}\n' >"$work/cli.tfrc"
fi
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
export TF_VAR_moto_endpoint="$endpoint"
# Keep real AWS credentials from the environment out of the way (the provider block sets test/test).
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN || true

tf() { terraform -chdir="$tf_dir" "$@"; }
log "terraform init"
tf init -no-color >"$work/init.log"
log "terraform apply (13 resources, one at a time)"
# -parallelism=1 keeps moto's seeded ids closer to reproducible.
tf apply -auto-approve -no-color -parallelism=1 >"$work/apply.log" || { cat "$work/apply.log" >&2; exit 1; }
tail -n 1 "$work/apply.log" | sed 's/^/  /' >&2 || true

# ------------------------------------------------------------------ state
"$PYTHON" - "$tf_dir/terraform.tfstate" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
state = json.loads(text)
assert state["version"] == 4, state["version"]
# Anything that looks like a credential must not be committed.
patterns = [r"AKIA[0-9A-Z]{16}", r"ASIA[0-9A-Z]{16}", r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
            r'"(password|secret|secret_key|access_key|token|private_key)"\s*:\s*"[^"]+"']
for p in patterns:
    m = re.search(p, text)
    if m:
        sys.exit(f"state contains something secret-like: {m.group(0)[:60]!r}")
sens = [(r["type"], r["name"]) for r in state["resources"] for i in r["instances"]
        if i.get("sensitive_attributes")]
if sens:
    print(f"note: resources with sensitive attributes (checked, values are empty): {sens}", file=sys.stderr)
EOF
cp "$tf_dir/terraform.tfstate" "$out_dir/terraform.tfstate"
log "state: $(wc -c <"$out_dir/terraform.tfstate") bytes, $(grep -c '"type": "aws_' "$out_dir/terraform.tfstate") resources"

# ------------------------------------------------------------------ out-of-band changes + trail
log "out-of-band changes against moto"
"$PYTHON" "$script_dir/out_of_band.py" --endpoint "$endpoint" --state "$out_dir/terraform.tfstate" \
  --out "$out_dir/events.jsonl" --calls "$out_dir/calls.json" \
  --expected "$out_dir/expected-alerts.json"

# ------------------------------------------------------------------ Terraform's own view of the drift
log "terraform plan -refresh-only"
set +e
tf plan -refresh-only -json -no-color -out="$work/drift.tfplan" >"$work/refresh-only.jsonl"
plan_rc=$?
set -e
if [[ $plan_rc -ne 0 ]]; then
  grep '"@level":"error"' "$work/refresh-only.jsonl" >&2 || cat "$work/refresh-only.jsonl" >&2
  exit 1
fi
tf show -json "$work/drift.tfplan" >"$work/drift.json"
"$PYTHON" "$script_dir/refresh_drift.py" "$work/refresh-only.jsonl" "$work/drift.json" \
  >"$out_dir/refresh-only-drift.json"

log "done: $(wc -l <"$out_dir/events.jsonl") records; outputs in ${out_dir#"$repo_root"/}"
