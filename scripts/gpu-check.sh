#!/usr/bin/env bash
# The GPU acceptance run, from the source tree: scripts/gpu-check.sh OUT_DIR [--cpu]
# (see scripts/gpu_check.py for what it runs and writes).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3)}"
exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" scripts/gpu_check.py "$@"
