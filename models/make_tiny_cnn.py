#!/usr/bin/python3
"""Makes models/tiny_cnn: a small CNN for the quick start and as an always-present test model.

    /usr/bin/python3 models/make_tiny_cnn.py [OUT_DIR]     (default: models/tiny_cnn beside this script)

Conv(3→8, 3x3) → BatchNorm → ReLU → Conv(8→16, 3x3, stride 2) → BatchNorm → ReLU →
global average pool → Linear(16→10), on a 1x3x32x32 input, with random weights (fixed seed)
and BatchNorm statistics far from identity (mean ~ N(0, 0.1), var ~ U(0.5, 1.5),
gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1)). Exported in eval mode with the BatchNormalization
nodes kept (TrainingMode.PRESERVE, no constant folding), opset 14. Writes model.onnx and
test_data_set_0/{input_0.pb, output_0.pb}, the expected output being PyTorch's float64
forward pass over the float32 weights. Deterministic: rerunning gives the same files.
"""

import io
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.classifier = torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


def write_tensor(path, array, name):
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name).SerializeToString())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_cnn")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = TinyCNN()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)
    model.eval()

    x = torch.randn(1, 3, 32, 32, generator=gen)
    with torch.no_grad():
        y = model.double()(x.double()).numpy().astype(np.float32)
    model.float()

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, buf, input_names=["input"], output_names=["logits"], opset_version=14,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    bns = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)
    if bns != 2:
        raise RuntimeError(f"expected 2 BatchNormalization nodes in the export, found {bns}")

    os.makedirs(os.path.join(out, "test_data_set_0"), exist_ok=True)
    with open(os.path.join(out, "model.onnx"), "wb") as f:
        f.write(buf.getvalue())
    write_tensor(os.path.join(out, "test_data_set_0", "input_0.pb"), x.numpy(), "input")
    write_tensor(os.path.join(out, "test_data_set_0", "output_0.pb"), y, "logits")
    ops = " ".join(n.op_type for n in proto.graph.node)
    print(f"{out}/model.onnx: {len(buf.getvalue())} bytes; {ops}; output {np.array2string(y[0], precision=4)}")


if __name__ == "__main__":
    main()
