#!/usr/bin/env bash
# Set up, create a demo data directory if there is none, and run server + console on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
DATA="${GREENROOM_DATA_DIR:-greenroom-data/demo}"
if [ ! -e "$DATA/greenroom.duckdb" ]; then
  .venv/bin/greenroom demo seed --data-dir "$DATA"
fi
exec .venv/bin/greenroom up --data-dir "$DATA"
