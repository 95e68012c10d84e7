#!/usr/bin/env bash
# Quick start, step 1: install dependencies, build, and run model-runner on the
# bundled model, checking its outputs against the bundled expected outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
model=models/tiny_cnn
./build/tools/model-runner/model-runner "$model/model.onnx" --data "$model/test_data_set_0" --iterations 20
