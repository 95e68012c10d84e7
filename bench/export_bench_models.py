#!/usr/bin/python3
"""Exports the benchmark models: torchvision architectures (and the MLP of the test suite) at
their usual input size, BatchNormalization kept (TrainingMode.PRESERVE), a symbolic batch dim,
random weights with non-trivial BatchNorm statistics (the same recipe as the test exports).

    /usr/bin/python3 bench/export_bench_models.py OUT_DIR [NAME ... | all]

Writes OUT_DIR/<name>/model.onnx and OUT_DIR/<name>/model.pt (the PyTorch module, for peer
benchmarks that run PyTorch on identical weights). Existing folders are kept.
"""

import io
import os
import sys
import time
import warnings

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "models"))
import export_models as em  # noqa: E402  (the test exporter: BN randomization, the MLP)

tv = torchvision.models
MODELS = {
    "resnet18": (lambda: tv.resnet18(), (3, 224, 224)),
    "resnet50": (lambda: tv.resnet50(), (3, 224, 224)),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(), (3, 224, 224)),
    "efficientnet_b0": (lambda: tv.efficientnet_b0(), (3, 224, 224)),
    "densenet121": (lambda: tv.densenet121(), (3, 224, 224)),
    "squeezenet1_1": (lambda: tv.squeezenet1_1(), (3, 224, 224)),
    "shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(), (3, 224, 224)),
    "vgg11_bn": (lambda: tv.vgg11_bn(), (3, 224, 224)),
    "mlp": (em.MLP, (64,)),
}


def export(out, name):
    ctor, in_shape = MODELS[name]
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(1235)
    model = ctor()
    em.randomize_batchnorm(model, torch.randn((4,) + in_shape, generator=gen), gen)
    model.eval()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn((1,) + in_shape), buf, input_names=["input"], output_names=["logits"],
                          opset_version=em.OPSET, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(buf.getvalue())
    torch.save(model, os.path.join(d, "model.pt"))
    with open(os.path.join(d, "input_shape.txt"), "w") as f:
        f.write("x".join(map(str, in_shape)) + "\n")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    names = sys.argv[2:] or ["all"]
    names = list(MODELS) if "all" in names else names
    for n in names:
        if n not in MODELS:
            print(f"unknown model {n}; known: {', '.join(MODELS)}")
            return 2
        if os.path.isfile(os.path.join(out, n, "model.onnx")):
            print(f"{n}: exists")
            continue
        t0 = time.perf_counter()
        export(out, n)
        print(f"{n}: exported in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
