#!/usr/bin/env bash
# Run the email service (outbox provider: messages land in outbox/ as .eml files) in the
# background and the case service in the foreground; Ctrl-C stops both. The Makefile sets
# DATABASE_URL, JWT_SECRET, INTERNAL_ADMIN_TOKEN, AUTH_TOKEN_STORE and EMAIL_SERVICE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
export EMAIL_PROVIDER="${EMAIL_PROVIDER:-outbox}" EMAIL_OUTBOX_DIR="${EMAIL_OUTBOX_DIR:-outbox}"
.venv/bin/cleanapp-api db upgrade >/dev/null
.venv/bin/cleanapp-api email-service --port 8025 --log-level warning &
email_pid=$!
trap 'kill "$email_pid" 2>/dev/null || true' EXIT
echo "serve: the workspace is at http://127.0.0.1:${PORT:-8080}/app/ (sign in with the link make demo printed, or: .venv/bin/cleanapp-api demo-token)"
.venv/bin/cleanapp-api serve --port "${PORT:-8080}"
