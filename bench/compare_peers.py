#!/usr/bin/env python3
"""kiln against onnxruntime and PyTorch on the benchmark models, in one run on one machine.

    VENV/bin/python bench/compare_peers.py [--models-dir DIR] [--models resnet18,mobilenet_v2]
        [--batches 1,8] [--threads 1,2] [--iterations 20] [--warmup 3] [--repeats 3]

The models folder is the one bench/export_bench_models.py writes (<name>/model.onnx and
<name>/model.pt, identical weights). Every measurement runs in its own subprocess, so that
the peak RSS reported (ru_maxrss of that child alone, via wait4) belongs to one engine:
  kiln         model-runner --json --shape input=Bx3x224x224 --threads T --warmup W --iterations N
  onnxruntime  InferenceSession, intra_op_num_threads=T, inter_op_num_threads=1, ORT_ENABLE_ALL
  pytorch      torch.load(model.pt) → torch.jit.trace → torch.jit.freeze →
               torch.jit.optimize_for_inference, torch.set_num_threads(T)
Engines alternate within each repetition (their order rotates from one repetition to the
next) so that machine noise hits them alike. Each process reports the median latency of its
N timed runs; the table gives the median of those over the repetitions, and kiln/peer ratios
(below 1: kiln is faster). Session creation: kiln's load_ms (parse, optimize, prepare);
onnxruntime's InferenceSession constructor; PyTorch's load + trace + freeze + optimize.
Peak RSS includes each engine's runtime (the Python interpreter and library for the peers).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ENGINES = ["kiln", "onnxruntime", "pytorch"]
DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "squeezenet1_1",
                  "shufflenet_v2_x1_0"]
HERE = os.path.dirname(os.path.abspath(__file__))


def csv(kind):
    return lambda s: [kind(x) for x in s.split(",") if x]


def input_shape(model_dir, batch):
    with open(os.path.join(model_dir, "input_shape.txt")) as f:
        dims = [int(d) for d in f.read().strip().split("x")]
    return [batch] + dims


# ---- workers: one engine, one configuration, in a process of its own ----------------------

def worker_onnxruntime(a):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(os.path.join(a.model, "model.onnx"), so, providers=["CPUExecutionProvider"])
    create_ms = (time.perf_counter() - t0) * 1e3
    x = np.random.default_rng(0).standard_normal(input_shape(a.model, a.batch)).astype(np.float32)
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(a.warmup):
        sess.run(None, feed)
    lat = []
    for _ in range(a.iterations):
        t = time.perf_counter()
        sess.run(None, feed)
        lat.append((time.perf_counter() - t) * 1e3)
    return create_ms, lat


def worker_pytorch(a):
    import torch
    torch.set_num_threads(a.threads)
    x = torch.randn(*input_shape(a.model, a.batch), generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    model = torch.load(os.path.join(a.model, "model.pt")).eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        m = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    create_ms = (time.perf_counter() - t0) * 1e3
    lat = []
    with torch.no_grad():
        for _ in range(a.warmup):
            m(x)
        for _ in range(a.iterations):
            t = time.perf_counter()
            m(x)
            lat.append((time.perf_counter() - t) * 1e3)
    return create_ms, lat


def worker_main(a):
    create_ms, lat = (worker_onnxruntime if a.worker == "onnxruntime" else worker_pytorch)(a)
    print(json.dumps({"create_ms": create_ms, "median_ms": statistics.median(lat)}))


# ---- driver ----------------------------------------------------------------------------------

def run_child(cmd):
    """Runs cmd; returns (stdout, peak RSS of that child in MiB)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
    return out, usage.ru_maxrss / 1024.0  # Linux: KiB


def measure(engine, a, model, batch, threads):
    model_dir = os.path.join(a.models_dir, model)
    if engine == "kiln":
        shape = "x".join(str(d) for d in input_shape(model_dir, batch))
        cmd = [a.model_runner, os.path.join(model_dir, "model.onnx"), "--json", "--shape", f"input={shape}",
               "--threads", str(threads), "--warmup", str(a.warmup), "--iterations", str(a.iterations)]
        out, rss = run_child(cmd)
        j = json.loads(out)
        if not j.get("ok", False) or "latency_ms" not in j:
            raise RuntimeError(f"model-runner: {j.get('error', out[-500:])}")
        return {"create_ms": j["load_ms"], "median_ms": j["latency_ms"]["median"], "rss_mb": rss}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", engine, "--model", model_dir, "--batch", str(batch),
           "--threads", str(threads), "--warmup", str(a.warmup), "--iterations", str(a.iterations)]
    out, rss = run_child(cmd)
    r = json.loads(out.strip().splitlines()[-1])
    r["rss_mb"] = rss
    return r


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default="build/bench-models")
    ap.add_argument("--model-runner", default=os.path.join(HERE, "..", "build", "tools", "model-runner", "model-runner"))
    ap.add_argument("--models", type=csv(str), default=DEFAULT_MODELS)
    ap.add_argument("--batches", type=csv(int), default=[1, 8])
    ap.add_argument("--threads", type=csv(int), default=[1, 2])
    ap.add_argument("--engines", type=csv(str), default=ENGINES)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    # Worker mode (internal): one peer engine, one configuration.
    ap.add_argument("--worker", choices=["onnxruntime", "pytorch"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.threads = a.threads[0]
        worker_main(a)
        return
    for e in a.engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r} (choose from {', '.join(ENGINES)})")
    for m in a.models:
        if not os.path.exists(os.path.join(a.models_dir, m, "model.onnx")):
            ap.error(f"{m}: no model.onnx in {a.models_dir}/{m} (make it with bench/export_bench_models.py)")

    configs = [(m, b, t) for m in a.models for b in a.batches for t in a.threads]
    results = {}  # (model, batch, threads, engine) -> list of measurements
    for rep in range(a.repeats):
        for m, b, t in configs:
            k = rep % len(a.engines)
            for engine in a.engines[k:] + a.engines[:k]:
                r = measure(engine, a, m, b, t)
                results.setdefault((m, b, t, engine), []).append(r)
                print(f"[rep {rep + 1}/{a.repeats}] {m} batch {b} threads {t} {engine}: {r['median_ms']:.2f} ms "
                      f"(create {r['create_ms']:.0f} ms, peak RSS {r['rss_mb']:.0f} MiB)", file=sys.stderr, flush=True)

    def med(m, b, t, engine, key):
        rs = results.get((m, b, t, engine))
        return statistics.median(r[key] for r in rs) if rs else None

    peers = [e for e in a.engines if e != "kiln"]
    short = {"onnxruntime": "ORT", "pytorch": "PyTorch", "kiln": "kiln"}
    head = ["model", "batch", "threads"] + [f"{short[e]} ms" for e in a.engines]
    if "kiln" in a.engines:
        head += [f"kiln/{short[p]}" for p in peers]
    print(f"Median latency over {a.repeats} repetitions of {a.iterations} timed runs each (after {a.warmup} warmup).\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for m, b, t in configs:
        row = [m, str(b), str(t)] + [fmt(med(m, b, t, e, "median_ms")) for e in a.engines]
        if "kiln" in a.engines:
            k = med(m, b, t, "kiln", "median_ms")
            row += [fmt(k / med(m, b, t, p, "median_ms")) for p in peers]
        print("| " + " | ".join(row) + " |")

    print("\nSession creation (ms) and peak RSS (MiB) of each engine's process, medians over repetitions.\n")
    head = ["model", "batch", "threads"] + [f"{short[e]} create" for e in a.engines] + [f"{short[e]} RSS" for e in a.engines]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for m, b, t in configs:
        row = [m, str(b), str(t)] + [fmt(med(m, b, t, e, "create_ms"), 0) for e in a.engines]
        row += [fmt(med(m, b, t, e, "rss_mb"), 0) for e in a.engines]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
