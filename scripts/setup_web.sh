#!/usr/bin/env bash
# The case workspace's pieces, idempotent, as root on Debian:
# - Debian's chromium (the browser tests drive it with Playwright; Playwright's own browser
#   download is not used) and poppler-utils (pdftoppm/pdftotext check the memo PDF);
# - the front-end libraries from npm with the lockfile (web/package-lock.json), copied into
#   cleanapp_api/workspace/static/vendor/ where the service serves them (no CDN at run time).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup_web: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

vendor=cleanapp_api/workspace/static/vendor
stamp="$vendor/.installed"
if [ ! -f "$stamp" ] || [ web/package-lock.json -nt "$stamp" ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$vendor"
  mkdir -p "$vendor/leaflet"
  cp web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css "$vendor/leaflet/"
  cp -r web/node_modules/leaflet/dist/images "$vendor/leaflet/"
  cp web/node_modules/leaflet/LICENSE "$vendor/leaflet/LICENSE"
  touch "$stamp"
fi
echo "setup_web: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), leaflet vendored in $vendor"
