#!/usr/bin/env bash
# Fuzzes the model loader and planner (Session::load_from_bytes, then one run
# on zeros) with libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--build-dir DIR] [--no-build]
#
# Builds the 'asan' preset's kiln_fuzz_load (clang-14) unless --no-build, seeds
# it with the ONNX node-test models (referenced in place, never copied), the
# hand-made models of kiln_fuzz_seeds and tests/fuzz/regressions/, and fuzzes
# for N seconds (default 60). The growing corpus stays in DIR/fuzz/corpus;
# crashing inputs land in DIR/fuzz/artifacts/ — minimize one with
#   DIR/tests/fuzz/kiln_fuzz_load -minimize_crash=1 -runs=10000 FILE
# and, once fixed, commit it to tests/fuzz/regressions/.
# Exits 77 (skipped) when clang is not installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=60 jobs=1 build_dir="$root/build-asan" build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [[ $build == 1 ]]; then
  if ! command -v clang++-14 >/dev/null; then
    echo "skipped: the fuzzer needs clang++-14 with libFuzzer (apt-get install clang-14 libclang-rt-14-dev)"
    exit 77
  fi
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    if [[ "$build_dir" != "$root/build-asan" ]]; then
      echo "$build_dir is not configured; use the 'asan' preset's folder or configure it with KILN_FUZZ=ON" >&2
      exit 2
    fi
    cmake --preset asan -S "$root" >/dev/null
  fi
  cmake --build "$build_dir" --target kiln_fuzz_load kiln_fuzz_seeds -j 2
fi

fuzzer="$build_dir/tests/fuzz/kiln_fuzz_load"
[[ -x "$fuzzer" ]] || { echo "$fuzzer is missing (configure with KILN_FUZZ=ON)" >&2; exit 2; }
work="$build_dir/fuzz"
mkdir -p "$work/corpus" "$work/artifacts" "$work/seeds/handmade" "$work/seeds/node"

# Seeds: hand-made models, and a link to each node-test model.
"$build_dir/tests/fuzz/kiln_fuzz_seeds" "$work/seeds/handmade"
node_dir="${KILN_ONNX_NODE_TESTS:-$root/../shared/onnx-tests/node}"
if [[ -d "$node_dir" ]]; then
  for m in "$node_dir"/*/model.onnx; do
    ln -sf "$m" "$work/seeds/node/$(basename "$(dirname "$m")").onnx"
  done
else
  echo "note: no ONNX node tests at $node_dir; seeding with the hand-made models only"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
args=(-max_total_time="$seconds" -timeout=10 -error_exitcode=99 -timeout_exitcode=98 -rss_limit_mb=2048 -max_len=65536
      -artifact_prefix="$work/artifacts/" -print_final_stats=1)
if [[ $jobs -gt 1 ]]; then args+=(-fork="$jobs" -ignore_crashes=0); fi
echo "fuzzing for ${seconds}s: $fuzzer"
exec "$fuzzer" "${args[@]}" "$work/corpus" "$work/seeds/handmade" "$work/seeds/node" "$root/tests/fuzz/regressions"
