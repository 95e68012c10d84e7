#!/usr/bin/python3
"""Exports real CNNs (and a small MLP) from PyTorch to ONNX, with test data, for
kiln's model tests (tests/models/real_models_test.cpp).

    /usr/bin/python3 tests/models/export_models.py OUT_DIR [NAME ... | all] [--force] [--check]

Each NAME is a model group (see GROUPS below, or --list). A group writes one folder per
variant under OUT_DIR, in the layout of ONNX's backend tests:

    OUT_DIR/<group>_<variant>/model.onnx
    OUT_DIR/<group>_<variant>/test_data_set_<i>/input_0.pb, output_0.pb
    OUT_DIR/<group>_<variant>/info.txt          (how it was made; measured float32 error)

Variants:
  bn_kept     eval mode, TrainingMode.PRESERVE, no constant folding: BatchNormalization
              nodes stay in the graph (inference form).
  folded      eval mode, the exporter's defaults (TrainingMode.EVAL, constant folding): the
              exporter folds BatchNormalization into the preceding Conv where it can.
  bn_dynamic  as bn_kept, with a symbolic batch dim; data sets of two batch sizes.
  train       train mode, TrainingMode.TRAINING: BatchNormalization with training_mode=1
              (opset 14), normalising with the statistics of the batch.
  train_opset13  as train, at opset 13, where training mode is marked by BatchNormalization's
              extra outputs (there is no training_mode attribute before opset 14).

Weights are random (fixed seeds). BatchNorm parameters are made far from identity: each BN's
running statistics are set from the activations it sees on a calibration batch (so the signal
neither dies nor explodes through depth), then perturbed — mean + N(0, 0.1)·std,
var·U(0.5, 1.5) — and gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1). A mistake in BN (or in folding
it) therefore changes the outputs.

Expected outputs are PyTorch's, computed in float64 from the float32 weights (the exact result
of the float32 model, up to float64 rounding), then stored as float32. info.txt records how far
PyTorch's own float32 forward pass is from that, for judging tolerances.

A group whose folder contents are up to date (same script, same library versions) is skipped;
--force re-exports. --check also runs each exported model with onnxruntime when it is
importable and reports its error against the expected outputs.
"""

import argparse
import copy
import hashlib
import io
import os
import shutil
import sys
import time
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torchvision

OPSET = 14  # torch 1.13's default export opset; BatchNormalization-14 has training_mode.


def randomize_batchnorm(model, calib, gen):
    """Gives every BatchNorm non-trivial statistics and affine parameters (see module doc)."""
    bn_type = torch.nn.modules.batchnorm._BatchNorm
    done = set()

    def pre_hook(mod, args):
        if mod in done:
            return
        done.add(mod)
        x = args[0].detach()
        dims = [d for d in range(x.dim()) if d != 1]
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        # A channel that is (nearly) constant on the calibration batch must not get a
        # variance near zero: BN would then amplify rounding noise by 1/sqrt(eps).
        var = torch.maximum(var, 0.01 * var.mean())
        c = mean.numel()
        mod.running_mean.copy_(mean + 0.1 * var.sqrt() * torch.randn(c, generator=gen))
        mod.running_var.copy_(var * (torch.rand(c, generator=gen) + 0.5))
        mod.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
        mod.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)

    hooks = [m.register_forward_pre_hook(pre_hook) for m in model.modules() if isinstance(m, bn_type)]
    model.eval()
    with torch.no_grad():
        model(calib)
    for h in hooks:
        h.remove()
    missing = sum(1 for m in model.modules() if isinstance(m, bn_type) and m not in done)
    if missing:
        raise RuntimeError(f"{missing} BatchNorm modules were not reached by the calibration pass")


class MLP(torch.nn.Module):
    """Linear → BatchNorm1d → ReLU → Linear → BatchNorm1d → ReLU → Linear."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.BatchNorm1d(128), torch.nn.ReLU(),
            torch.nn.Linear(128, 96), torch.nn.BatchNorm1d(96), torch.nn.ReLU(),
            torch.nn.Linear(96, 10))

    def forward(self, x):
        return self.net(x)


tv = torchvision.models

# name: (constructor, input shape without batch, extra variants, batch sizes of extra variants)
# Input sizes keep the suite quick on a scalar engine: the heavy networks run at 112x112
# (all of them pool adaptively, so any size from 32 up is valid), the light ones at 224x224.
GROUPS = {
    "resnet18": (lambda: tv.resnet18(), (3, 112, 112), ["bn_dynamic", "train"]),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(), (3, 224, 224), []),
    "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(), (3, 224, 224), []),
    "efficientnet_b0": (lambda: tv.efficientnet_b0(), (3, 224, 224), []),
    "densenet121": (lambda: tv.densenet121(), (3, 112, 112), []),
    "shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(), (3, 224, 224), []),
    "squeezenet1_1": (lambda: tv.squeezenet1_1(), (3, 224, 224), []),
    "googlenet": (lambda: tv.googlenet(aux_logits=False, init_weights=True), (3, 112, 112), []),
    "mlp": (MLP, (64,), ["bn_dynamic", "train", "train_opset13"]),
}

# Batch sizes per variant's data sets. Training-mode BN needs batch > 1 (and for the MLP,
# whose BN normalises over the batch alone, a batch large enough that the batch variance is
# not dominated by two samples).
BATCHES = {
    "bn_kept": [1],
    "folded": [1],
    "bn_dynamic": [1, 2],
    "train": [2],
    "train_opset13": [2],
}


def batches_for(group, variant):
    if group == "mlp":
        return {"bn_kept": [4], "folded": [4], "bn_dynamic": [1, 3], "train": [8], "train_opset13": [8]}[variant]
    return BATCHES[variant]


def group_hash(group):
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    h.update(f"{group} torch {torch.__version__} torchvision {torchvision.__version__} onnx {onnx.__version__} "
             f"numpy {np.__version__}".encode())
    return h.hexdigest()


def variant_dirs(out, group):
    return [os.path.join(out, f"{group}_{v}") for v in ["bn_kept", "folded"] + GROUPS[group][2]]


def up_to_date(out, group):
    stamp = os.path.join(out, f"{group}.stamp")
    try:
        with open(stamp) as f:
            if f.read().strip() != group_hash(group):
                return False
    except OSError:
        return False
    return all(os.path.isfile(os.path.join(d, "model.onnx")) and os.path.isdir(os.path.join(d, "test_data_set_0"))
               for d in variant_dirs(out, group))


def export_onnx(model, example, variant):
    """Returns the serialized ONNX model of `variant` (see module doc)."""
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=OPSET)
    if variant in ("bn_kept", "bn_dynamic"):
        kw.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        if variant == "bn_dynamic":
            kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    elif variant == "folded":
        kw.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    elif variant in ("train", "train_opset13"):
        kw.update(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
        if variant == "train_opset13":
            kw["opset_version"] = 13
    else:
        raise ValueError(variant)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buf, **kw)
    return buf.getvalue()


def check_graph(proto, variant, n_bn_modules):
    """Makes sure the exporter did what the variant promises; returns a one-line summary."""
    bns = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))

    def training_attr(n):
        return next((a.i for a in n.attribute if a.name == "training_mode"), 0)

    if variant in ("bn_kept", "bn_dynamic") and len(bns) != n_bn_modules:
        raise RuntimeError(f"{variant}: expected {n_bn_modules} BatchNormalization nodes, found {len(bns)}")
    if variant in ("bn_kept", "bn_dynamic", "folded") and any(training_attr(n) for n in bns):
        raise RuntimeError(f"{variant}: a BatchNormalization node is in training mode")
    if variant.startswith("train"):
        if len(bns) != n_bn_modules:
            raise RuntimeError(f"{variant}: expected {n_bn_modules} BatchNormalization nodes, found {len(bns)}")
        for n in bns:
            # Opset 14+: the attribute says so. Opset 9-13: the extra outputs do.
            if (opset >= 14 and training_attr(n) != 1) or (opset < 14 and len(n.output) != 5):
                raise RuntimeError(f"{variant}: BatchNormalization '{n.name}' was not exported in training mode")
    ops = sorted({n.op_type for n in proto.graph.node})
    return f"opset {opset}; {len(proto.graph.node)} nodes; {len(bns)} BatchNormalization; ops: {' '.join(ops)}"


def write_tensor(path, array, name):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def run_onnxruntime(model_path, sets):
    """Max abs error of onnxruntime against the expected outputs, or a reason it did not run."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime not importable"
    try:
        s = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        err = 0.0
        for x, y in sets:
            got = s.run(None, {s.get_inputs()[0].name: x})[0]
            err = max(err, float(np.abs(got.astype(np.float64) - y).max()))
        return f"{err:.3g}"
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return f"failed: {str(e).splitlines()[0][:200]}"


def export_group(out, group, check):
    ctor, in_shape, extra = GROUPS[group]
    seed = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = ctor()
    n_bn = sum(1 for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    calib_batch = 16 if group == "mlp" else 4
    randomize_batchnorm(model, torch.randn((calib_batch,) + in_shape, generator=gen), gen)

    for variant in ["bn_kept", "folded"] + extra:
        t0 = time.perf_counter()
        train = variant.startswith("train")
        # The input depends on the batch size alone, so that bn_kept, folded and bn_dynamic's
        # first data set share one input (and one expected output).
        inputs = [torch.randn((b,) + in_shape, generator=torch.Generator().manual_seed(seed + 1000 + b))
                  for b in batches_for(group, variant)]

        # Expected outputs: float64 forward of a copy (train mode also updates the copy's
        # running statistics; that does not affect the outputs, and the copy is thrown away).
        ref = copy.deepcopy(model).double().train(train)
        f32 = copy.deepcopy(model).train(train)
        expected, f32_err = [], 0.0
        with torch.no_grad():
            for x in inputs:
                y = ref(x.double()).numpy()
                expected.append(y)
                f32_err = max(f32_err, float(np.abs(f32(x).double().numpy() - y).max()))

        blob = export_onnx(copy.deepcopy(model).train(train), inputs[0], variant)
        proto = onnx.load_from_string(blob)
        onnx.checker.check_model(proto)
        summary = check_graph(proto, variant, n_bn)
        in_name = proto.graph.input[0].name
        out_name = proto.graph.output[0].name

        final = os.path.join(out, f"{group}_{variant}")
        tmp = final + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with open(os.path.join(tmp, "model.onnx"), "wb") as f:
            f.write(blob)
        sets = []
        for i, (x, y) in enumerate(zip(inputs, expected)):
            d = os.path.join(tmp, f"test_data_set_{i}")
            os.makedirs(d)
            xs, ys = x.numpy().astype(np.float32), y.astype(np.float32)
            write_tensor(os.path.join(d, "input_0.pb"), xs, in_name)
            write_tensor(os.path.join(d, "output_0.pb"), ys, out_name)
            sets.append((xs, y))
        ort_err = run_onnxruntime(os.path.join(tmp, "model.onnx"), sets) if check else "not run"
        scale = max(float(np.abs(y).max()) for y in expected)
        with open(os.path.join(tmp, "info.txt"), "w") as f:
            f.write(f"model {group}\nvariant {variant}\n{summary}\n"
                    f"input {' '.join('x'.join(map(str, x.shape)) for x in inputs)}\n"
                    f"output_max_abs {scale:.6g}\n"
                    f"torch_f32_max_abs_err {f32_err:.3g}\n"
                    f"torch {torch.__version__} torchvision {torchvision.__version__} onnx {onnx.__version__}\n")
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        dt = time.perf_counter() - t0
        print(f"  {group}_{variant}: {len(blob) / 2**20:.1f} MiB, {summary.split(';')[2].strip()}, "
              f"|out| <= {scale:.3g}, torch f32 err {f32_err:.2g}"
              + (f", onnxruntime err {ort_err}" if check else "") + f" ({dt:.1f} s)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", help="output folder")
    p.add_argument("names", nargs="*", default=["all"], help="model groups, or 'all' (default)")
    p.add_argument("--force", action="store_true", help="re-export even when up to date")
    p.add_argument("--check", action="store_true", help="also run the exports with onnxruntime, if importable")
    p.add_argument("--list", action="store_true", help="list the model groups and exit")
    a = p.parse_args()
    if a.list:
        print("\n".join(GROUPS))
        return 0
    if not a.out:
        p.error("the output folder is required")
    names = list(GROUPS) if "all" in a.names else a.names
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        p.error(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(GROUPS)}")

    # Same results on any machine: single-threaded, deterministic kernels.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.out, exist_ok=True)
    t_all = time.perf_counter()
    for g in names:
        stamp = os.path.join(a.out, f"{g}.stamp")
        if not a.force and up_to_date(a.out, g):
            print(f"{g}: up to date")
        else:
            t0 = time.perf_counter()
            print(f"{g}: exporting", flush=True)
            export_group(a.out, g, a.check)
            with open(stamp, "w") as f:
                f.write(group_hash(g) + "\n")
            print(f"{g}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        os.utime(stamp)  # lets the build see the group as done even when nothing changed
    print(f"models in {a.out} ({time.perf_counter() - t_all:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
