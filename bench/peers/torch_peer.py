#!/usr/bin/python3
"""PyTorch peer for tinyc's training benchmark.

Trains exactly the task setups of ../shared/reference/peers.md ("Task definitions") and
prints ONE JSON line on stdout. Run it with Debian's /usr/bin/python3 (python3-torch), on
OpenBLAS as peers.md explains:

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OPENBLAS_CORETYPE=SkylakeX \
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/torch_peer.py fashion_mlp --seed 0 --threads 2

train_seconds covers the training loop only: data is loaded into tensors, and the model and
optimizer are built, before the clock starts; evaluation happens after it stops.
"""

import argparse
import csv
import gzip
import json
import math
import os
import struct
import sys
import time

TASKS = ("linear", "sine", "digits_mlp", "fashion_mlp", "fashion_cnn")
DEFAULT_FASHION = "/usr/share/datasets/fashion-mnist"

# task -> loss, optimizer, lr, batch (0 = full batch, no shuffle), epochs (peers.md table)
SETUPS = {
    "linear": ("mse", "sgd", 0.01, 0, 500),
    "sine": ("mse", "adam", 0.001, 16, 500),
    "digits_mlp": ("ce", "adam", 0.001, 32, 50),
    "fashion_mlp": ("ce", "adam", 0.001, 32, 5),
    "fashion_cnn": ("ce", "adam", 0.001, 32, 3),
}


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=TASKS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--shared", default=os.path.join(os.path.dirname(repo), "shared"),
                   help="the shared/ directory (default: <repo>/../shared)")
    p.add_argument("--fashion", default=DEFAULT_FASHION,
                   help="directory with the Fashion-MNIST IDX .gz files")
    return p.parse_args()


args = parse_args()
# OpenMP reads this when the runtime starts, i.e. when torch is imported.
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


# ---------------------------------------------------------------- data

def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def load_linear(shared):
    header, rows = read_csv(os.path.join(shared, "data", "tasks", "linear.csv"))
    ix, iy = header.index("x"), header.index("y")
    x = np.array([[float(r[ix])] for r in rows], dtype=np.float32)
    y = np.array([[float(r[iy])] for r in rows], dtype=np.float32)
    return {"train": (x, y)}


def split_rows(header, rows):
    isplit = header.index("split")
    out = {}
    for r in rows:
        out.setdefault(r[isplit], []).append(r)
    return out


def load_sine(shared):
    header, rows = read_csv(os.path.join(shared, "data", "tasks", "sine.csv"))
    ix, iy = header.index("x"), header.index("y")
    data = {}
    for name, part in split_rows(header, rows).items():
        x = np.array([[float(r[ix])] for r in part], dtype=np.float32)
        y = np.array([[float(r[iy])] for r in part], dtype=np.float32)
        data[name] = (x, y)
    return data


def load_digits(shared):
    header, rows = read_csv(os.path.join(shared, "data", "tasks", "digits.csv"))
    ifeat = [header.index("p%d" % i) for i in range(64)]
    ilabel = header.index("label")
    data = {}
    for name, part in split_rows(header, rows).items():
        x = np.array([[float(r[i]) for i in ifeat] for r in part], dtype=np.float32) / 16.0
        y = np.array([int(r[ilabel]) for r in part], dtype=np.int64)
        data[name] = (x, y)
    return data


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("%s[.gz] not found in %s" % (stem, directory))


def load_fashion(directory, images_2d):
    data = {}
    for name, prefix in (("train", "train"), ("test", "t10k")):
        img = read_idx(find_idx(directory, prefix + "-images-idx3-ubyte"))
        lab = read_idx(find_idx(directory, prefix + "-labels-idx1-ubyte"))
        x = img.astype(np.float32) / 255.0
        x = x.reshape(len(x), 1, 28, 28) if images_2d else x.reshape(len(x), 784)
        data[name] = (x, lab.astype(np.int64))
    return data


def load(task):
    if task == "linear":
        return load_linear(args.shared)
    if task == "sine":
        return load_sine(args.shared)
    if task == "digits_mlp":
        return load_digits(args.shared)
    return load_fashion(args.fashion, images_2d=(task == "fashion_cnn"))


# ---------------------------------------------------------------- models

def build(task):
    if task == "linear":
        return nn.Linear(1, 1)
    if task == "sine":
        return nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                             nn.Linear(16, 1))
    if task == "digits_mlp":
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    if task == "fashion_mlp":
        return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    # 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5: 16 x 5 x 5 = 400 features
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(400, 10))


def init_params(task, model):
    """Weights U(-a, a), a = sqrt(6 / (fan_in + fan_out)); biases 0; linear: all zero."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                if task == "linear":
                    m.weight.zero_()
                else:
                    w = m.weight  # Linear (out, in); Conv2d (out, in, kh, kw)
                    receptive = w[0, 0].numel() if w.dim() > 2 else 1
                    fan_in = w.shape[1] * receptive
                    fan_out = w.shape[0] * receptive
                    a = math.sqrt(6.0 / (fan_in + fan_out))
                    w.uniform_(-a, a)
                m.bias.zero_()


def flop_per_sample(model, x_one):
    """6 x forward MACs of the dense and conv layers (forward 2, backward 4 FLOP per MAC)."""
    macs = 0
    h = x_one
    with torch.no_grad():
        for m in model.modules() if not isinstance(model, nn.Sequential) else model:
            out = m(h)
            if isinstance(m, nn.Linear):
                macs += m.in_features * m.out_features
            elif isinstance(m, nn.Conv2d):
                macs += out[0].numel() * m.weight[0].numel()
            h = out
    return 6 * macs


# ---------------------------------------------------------------- train / eval

def evaluate(model, loss_kind, x, y):
    with torch.no_grad():
        z = model(x)
        if loss_kind == "mse":
            mse = F.mse_loss(z, y).item()
            return {"loss": mse, "mse": mse}
        loss = F.cross_entropy(z, y).item()
        acc = (z.argmax(dim=1) == y).double().mean().item()
        return {"loss": loss, "accuracy": acc}


def blas_library():
    """The BLAS shared object this process actually mapped (proves the OpenBLAS setup)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return sorted(libs)
    except OSError:
        return []


def main():
    task = args.task
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    loss_kind, opt_kind, lr, batch, epochs = SETUPS[task]

    data = {k: (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
            for k, (x, y) in load(task).items()}
    x_train, y_train = data["train"]
    n = len(x_train)

    model = build(task)
    init_params(task, model)
    if opt_kind == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = F.mse_loss if loss_kind == "mse" else F.cross_entropy
    gen = torch.Generator().manual_seed(args.seed)

    t0 = time.perf_counter()
    for _ in range(epochs):
        if batch == 0:  # full batch, no shuffle
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x_train), y_train).backward()
            opt.step()
            continue
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):  # the last partial batch is kept
            idx = perm[start:start + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
    train_seconds = time.perf_counter() - t0

    model.eval()
    metrics = {"train": evaluate(model, loss_kind, x_train, y_train)}
    for name in ("val", "test"):
        if name in data:
            metrics[name] = evaluate(model, loss_kind, *data[name])

    out = {
        "peer": "pytorch",
        "task": task,
        "threads": args.threads,
        "seed": args.seed,
        "epochs": epochs,
        "train_rows": n,
        "train_seconds": train_seconds,
        "samples_per_second": epochs * n / train_seconds,
        "flop_per_sample": flop_per_sample(model, x_train[:1]),
        "metrics": metrics,
        "torch_version": torch.__version__,
        "blas": blas_library(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
    }
    if task == "linear":
        out["w"] = model.weight.item()
        out["b"] = model.bias.item()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError) as e:
        print("torch_peer: %s: %s" % (args.task, e), file=sys.stderr)
        sys.exit(2)
