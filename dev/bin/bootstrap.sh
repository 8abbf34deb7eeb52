#!/bin/sh
# Installs the npm dependencies (and with them the pinned Node 24) whenever the
# lockfile or a package.json changed since the last install, so `npm run up`
# and `npm test` work straight from a fresh clone.
set -eu
cd "$(dirname "$0")/../.."
stamp=node_modules/.turgon-install-stamp
want=$(cat package-lock.json package.json */package.json | sha256sum | cut -d' ' -f1)
if [ -x node_modules/.bin/node ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "bootstrap: installing npm dependencies with npm ci (pins Node 24) ..."
npm ci --no-audit --no-fund
echo "$want" >"$stamp"
echo "bootstrap: using $(node_modules/.bin/node --version) from node_modules/.bin"
