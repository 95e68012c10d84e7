#!/usr/bin/env bash
# Quick start, step 2: the whole test suite (installs dependencies and builds first):
# the release build's tests (unit, conformance, real models, CLI, install, stress), then
# the unit, conformance, CLI and stress tests again under AddressSanitizer +
# UndefinedBehaviorSanitizer with a 60 s fuzzing run of the loader (clang-14 build,
# build-asan/), then the concurrency and stress tests under ThreadSanitizer (build-tsan/).
# KILN_TEST_SANITIZE=0 skips the sanitizer part. Extra arguments go to
# the release ctest, e.g. scripts/test.sh -L conformance
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 600 -LE fuzz "$@"
echo "release test suite wall time: $(( $(date +%s) - start )) s"
if [[ "${KILN_TEST_SANITIZE:-1}" != 0 ]]; then
  for kind in asan tsan; do
    rc=0
    scripts/sanitize.sh "$kind" || rc=$?
    if [[ $rc == 77 ]]; then echo "$kind run skipped (no clang-14)"; elif [[ $rc != 0 ]]; then exit $rc; fi
  done
fi
echo "whole test suite wall time: $(( $(date +%s) - start )) s"
