#!/usr/bin/python3
"""Checks model-runner --save-optimized on exported models: the saved model (folded weights,
fused epilogues expanded into standard ops) must hold no BatchNormalization where kiln folded
them all, re-load in kiln and pass the model's own test data, and — when onnxruntime is
importable — give the same outputs in onnxruntime.

    check_saved_optimized.py MODEL_RUNNER MODEL_DIR [MODEL_DIR ...]
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.numpy_helper

TOL = 1e-4  # of max|want|, as in real_models_test.cpp


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


def main():
    runner, dirs = sys.argv[1], sys.argv[2:]
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
        print("onnxruntime not importable: checking re-load in kiln only")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for d in dirs:
            name = os.path.basename(d.rstrip("/"))
            saved = os.path.join(tmp, name + ".onnx")
            data = os.path.join(d, "test_data_set_0")
            r = subprocess.run([runner, os.path.join(d, "model.onnx"), "--save-optimized", saved, "--json"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {name}: model-runner --save-optimized exited {r.returncode}: {r.stderr.strip()}")
                failures += 1
                continue
            model = onnx.load(saved)
            onnx.checker.check_model(model)
            ops = [n.op_type for n in model.graph.node]
            domains = {n.domain for n in model.graph.node} - {""}
            if domains:
                print(f"FAIL {name}: saved model uses non-standard domains {domains}")
                failures += 1
            r = subprocess.run([runner, saved, "--data", data, "--atol", "1e-4", "--rtol", "1e-3"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {name}: the saved model does not pass its data in kiln:\n{r.stdout}{r.stderr}")
                failures += 1
                continue
            line = f"ok   {name}: {len(ops)} nodes, {ops.count('BatchNormalization')} BatchNormalization; kiln re-load passes"
            if ort is not None:
                s = ort.InferenceSession(saved, providers=["CPUExecutionProvider"])
                x = load_pb(os.path.join(data, "input_0.pb"))
                want = load_pb(os.path.join(data, "output_0.pb"))
                got = s.run(None, {s.get_inputs()[0].name: x})[0]
                scale = max(float(np.abs(want).max()), 1e-3)
                err = float(np.abs(got.astype(np.float64) - want).max())
                if err > TOL * scale:
                    print(f"FAIL {name}: onnxruntime on the saved model: max abs err {err:.3g} > {TOL * scale:.3g}")
                    failures += 1
                    continue
                line += f"; onnxruntime max abs err {err:.3g}"
            print(line)
    print(f"{len(dirs) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
