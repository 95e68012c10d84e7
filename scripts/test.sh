#!/usr/bin/env bash
# Quick start, step 2: the whole test suite (installs dependencies and builds first).
# Extra arguments go to ctest, e.g. scripts/test.sh -L conformance
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 600 "$@"
echo "test suite wall time: $(( $(date +%s) - start )) s"
