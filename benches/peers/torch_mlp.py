"""Hand-written PyTorch (eager) peer for `shardprop bench` (docs/PERFORMANCE.md).

The same maths as shardprop: sigmoid units, squared-error cost J = (1/m) sum 1/2 (h - y)^2,
plain gradient descent (torch.optim.SGD), f32, MNIST training set, examples per second over
whole epochs (median of the timed epochs after one warm-up epoch), the data already in memory as
tensors, batches gathered with index_select, the way a PyTorch user writes a training loop.

Run (pip install torch numpy; PyPI's Linux wheel brings the CUDA runtime packages, unused here):
  python3 benches/peers/torch_mlp.py --threads 1 W1 W2 W3
  python3 benches/peers/torch_mlp.py --threads 2 W1 W2 W3
"""
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch

WORKLOADS = {"W1": ([784, 128, 10], 256), "W2": ([784, 800, 10], 1024), "W3": ([784, 128, 10], 0)}


def mnist(root):
    raw = gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")).read()
    n = struct.unpack(">I", raw[4:8])[0]
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255.0
    labels = np.frombuffer(gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz")).read(), np.uint8, offset=8)
    y = np.zeros((n, 10), np.float32)
    y[np.arange(n), labels] = 1.0
    return torch.from_numpy(x), torch.from_numpy(y)


def run(name, x, y, epochs=3, lr=0.1):
    sizes, batch = WORKLOADS[name]
    n = x.shape[0]
    batch = n if batch == 0 else batch
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(sizes[0], sizes[1]), torch.nn.Sigmoid(), torch.nn.Linear(sizes[1], sizes[2]), torch.nn.Sigmoid()
    )
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(1)
    rates = []
    for epoch in range(epochs + 1):
        perm = torch.randperm(n, generator=gen) if batch < n else torch.arange(n)
        t = time.perf_counter()
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            h = model(xb)
            loss = 0.5 * ((h - yb) ** 2).sum() / xb.shape[0]
            loss.backward()
            opt.step()
        if epoch > 0:
            rates.append(n / (time.perf_counter() - t))
    return float(np.median(rates))


if __name__ == "__main__":
    args = sys.argv[1:]
    threads = 1
    if args[:1] == ["--threads"]:
        threads, args = int(args[1]), args[2:]
    torch.set_num_threads(threads)
    root = os.path.join(os.path.dirname(__file__), "..", "..", "datasets", "mnist")
    x, y = mnist(root)
    for name in args or ["W1", "W2", "W3"]:
        print(f"torch {torch.__version__} {name} threads={threads}: {run(name, x, y):.0f} examples/s", flush=True)
