#!/usr/bin/env python3
"""Fused against unfused, per model and batch: runs `model-runner --compare-fusion --json`
(which alternates fused and unfused runs on the same inputs, so machine noise hits both
alike) and prints a Markdown table of both medians, the speedup and the max |fused − unfused|.

    bench/fusion_table.py [--models-dir build/bench-models] [--model-runner build/tools/model-runner/model-runner]
                          [--models resnet18,resnet50,...] [--batches 1,8] [--threads 0] [--iterations 20]
"""

import argparse
import json
import os
import subprocess
import sys

DEFAULT_MODELS = "resnet18,resnet50,mobilenet_v2,efficientnet_b0,densenet121,vgg11_bn,mlp"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", default="build/bench-models")
    p.add_argument("--model-runner", default="build/tools/model-runner/model-runner")
    p.add_argument("--models", default=DEFAULT_MODELS)
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", type=int, default=0, help="0: all cores (the session default)")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    rows = []
    for m in a.models.split(","):
        d = os.path.join(a.models_dir, m)
        with open(os.path.join(d, "input_shape.txt")) as f:
            sample = f.read().strip()
        for b in a.batches.split(","):
            cmd = [a.model_runner, os.path.join(d, "model.onnx"), "--shape", f"input={b}x{sample}", "--compare-fusion",
                   "--iterations", str(a.iterations), "--warmup", str(a.warmup), "--json"]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{m} batch {b}: model-runner exited {r.returncode}: {r.stderr.strip()[-300:]}", file=sys.stderr)
                continue
            j = json.loads(r.stdout)
            c, f = j["compare_fusion"], j["fusion"]
            rows.append((m, b, j["threads"], f["batchnorm_nodes"], f["batchnorm_folded"], f["fused_activations"],
                         f["fused_adds"], c["unfused_median_ms"], c["fused_median_ms"], c["speedup"], c["max_abs_diff"]))
            print(f"{m} batch {b}: speedup {c['speedup']:.3f}", file=sys.stderr, flush=True)
    print("| model | batch | threads | BN nodes | BN folded | fused act. | fused adds | unfused ms | fused ms "
          "| speedup | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]:.3g} | {r[8]:.3g} | "
              f"{r[9]:.2f}× | {r[10]:.2g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
