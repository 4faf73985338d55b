#!/usr/bin/env bash
# Set up (test tools and Chromium included) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
