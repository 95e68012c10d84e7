#!/usr/bin/env bash
# The test suite under sanitizers (clang-14):
#   scripts/sanitize.sh          AddressSanitizer + UndefinedBehaviorSanitizer ('asan' preset,
#                                build-asan/): every kernel and the loader through the unit,
#                                conformance, CLI and stress tests (not the model export),
#                                then a 60 s libFuzzer run of the loader
#   scripts/sanitize.sh tsan     ThreadSanitizer ('tsan' preset, build-tsan/): the concurrency
#                                and stress tests
# Extra arguments go to ctest. Exits 77 (skipped) when clang is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=asan
if [[ "${1:-}" == asan || "${1:-}" == tsan ]]; then kind="$1"; shift; fi
if ! command -v clang++-14 >/dev/null; then
  echo "skipped: sanitizer builds need clang++-14 (apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
start=$(date +%s)
# The sanitizer builds do not export PyTorch models; the real-CNN tests use the release
# build's exports when they exist (scripts/test.sh builds those first).
if [[ -z "${KILN_MODELS_DIR:-}" && -d build/models ]]; then export KILN_MODELS_DIR="$PWD/build/models"; fi
[[ -f build-$kind/CMakeCache.txt ]] || cmake --preset "$kind" >/dev/null
if [[ $kind == asan ]]; then
  cmake --build build-asan -j 2 --target kiln_unit_tests kiln_conformance kiln_cli_tests kiln_stress_tests model-runner \
    kiln_fuzz_load kiln_fuzz_seeds
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  export KILN_STRESS_RUNS="${KILN_STRESS_RUNS:-60}"
  ctest --test-dir build-asan -j 2 --output-on-failure --timeout 900 -L 'unit|conformance|cli|stress' -LE fuzz "$@"
  # Then 60 s of fuzzing the loader with the same build.
  ctest --test-dir build-asan --output-on-failure --timeout 900 -L fuzz "$@"
else
  cmake --build build-tsan -j 2 --target kiln_unit_tests kiln_stress_tests
  # The tsan preset builds the std::thread backend (engine/runtime/parallel.h): every
  # synchronisation is visible to TSan, so nothing is suppressed.
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
  export KILN_STRESS_RUNS="${KILN_STRESS_RUNS:-200}"
  ctest --test-dir build-tsan -j 1 --output-on-failure --timeout 900 -R 'Concurrency\.|Stress\.|BatchSplit\.|HostileModel\.ConstantOfShapeWithAbsurdRuntimeShape' "$@"
fi
echo "$kind suite wall time: $(( $(date +%s) - start )) s"
