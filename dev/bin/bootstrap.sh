#!/bin/sh
# Installs the npm dependencies (and with them the pinned Node 24) whenever the
# lockfile or a package.json changed since the last install, and generates the
# Prisma client whenever prisma/schema.prisma changed, so `npm run up` and
# `npm test` work straight from a fresh clone.
set -eu
cd "$(dirname "$0")/../.."
stamp=node_modules/.turgon-install-stamp
want=$(cat package-lock.json package.json */package.json | sha256sum | cut -d' ' -f1)
if ! { [ -x node_modules/.bin/node ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  echo "bootstrap: installing npm dependencies with npm ci (pins Node 24) ..."
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
  echo "bootstrap: using $(node_modules/.bin/node --version) from node_modules/.bin"
fi

# The client is generated code (prisma/generated/, not in git). prisma's
# package.json is in the stamp so that a Prisma upgrade regenerates it too.
prisma_stamp=prisma/generated/.turgon-generate-stamp
prisma_want=$(cat prisma/schema.prisma prisma/package.json | sha256sum | cut -d' ' -f1)
if [ -f prisma/generated/client/client.ts ] && [ -f "$prisma_stamp" ] && [ "$(cat "$prisma_stamp")" = "$prisma_want" ]; then
  exit 0
fi
echo "bootstrap: generating the Prisma client from prisma/schema.prisma ..."
# Offline: prisma/bin/prisma runs the CLI with the schema-engine stand-in.
if ! output=$(sh prisma/bin/prisma generate --no-hints 2>&1); then
  echo "$output" >&2
  echo "bootstrap: prisma generate failed (output above)" >&2
  exit 1
fi
echo "$prisma_want" >"$prisma_stamp"
echo "bootstrap: Prisma client generated in prisma/generated/client"
