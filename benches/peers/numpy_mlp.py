"""Hand-written NumPy peer for `shardprop bench` (docs/PERFORMANCE.md).

The same maths as shardprop: sigmoid units, squared-error cost, plain gradient descent, f32,
MNIST training set, examples per second over whole epochs (median of the timed epochs after one
warm-up epoch). Buffers are preallocated and products write in place (`out=`), as a careful
NumPy user would write it.

Run (pip install numpy):
  OPENBLAS_NUM_THREADS=1 python3 benches/peers/numpy_mlp.py W1 W2 W3
  OPENBLAS_NUM_THREADS=2 python3 benches/peers/numpy_mlp.py W1 W2 W3
"""
import gzip
import os
import struct
import sys
import time

import numpy as np

WORKLOADS = {"W1": ([784, 128, 10], 256), "W2": ([784, 800, 10], 1024), "W3": ([784, 128, 10], 0)}


def mnist(root):
    raw = gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")).read()
    n = struct.unpack(">I", raw[4:8])[0]
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255.0
    labels = np.frombuffer(gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz")).read(), np.uint8, offset=8)
    y = np.zeros((n, 10), np.float32)
    y[np.arange(n), labels] = 1.0
    return x, y


def sigmoid_(z):
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)


def run(name, x, y, epochs=3, lr=0.1):
    sizes, batch = WORKLOADS[name]
    n = x.shape[0]
    batch = n if batch == 0 else batch
    rng = np.random.default_rng(1)
    w = [rng.uniform(-1, 1, (sizes[l + 1], sizes[l])).astype(np.float32) * np.float32(np.sqrt(6 / (sizes[l] + sizes[l + 1]))) for l in range(2)]
    b = [np.zeros(sizes[l + 1], np.float32) for l in range(2)]
    a1 = np.empty((batch, sizes[1]), np.float32)
    a2 = np.empty((batch, sizes[2]), np.float32)
    d1 = np.empty_like(a1)
    d2 = np.empty_like(a2)
    gw = [np.empty_like(w[0]), np.empty_like(w[1])]
    xb = np.empty((batch, 784), np.float32)
    yb = np.empty((batch, 10), np.float32)
    rates = []
    for epoch in range(epochs + 1):
        perm = rng.permutation(n) if batch < n else np.arange(n)
        t = time.perf_counter()
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            m = len(idx)
            xs, ys = (xb[:m], yb[:m])
            np.take(x, idx, axis=0, out=xs)
            np.take(y, idx, axis=0, out=ys)
            z1, z2, e1, e2 = a1[:m], a2[:m], d1[:m], d2[:m]
            np.matmul(xs, w[0].T, out=z1); z1 += b[0]; sigmoid_(z1)
            np.matmul(z1, w[1].T, out=z2); z2 += b[1]; sigmoid_(z2)
            # delta2 = (h - y) h (1 - h)
            np.subtract(z2, ys, out=e2); e2 *= z2; e2 *= (1.0 - z2)
            np.matmul(e2, w[1], out=e1); e1 *= z1; e1 *= (1.0 - z1)
            np.matmul(e2.T, z1, out=gw[1]); np.matmul(e1.T, xs, out=gw[0])
            alpha = np.float32(lr / m)
            w[1] -= alpha * gw[1]; b[1] -= alpha * e2.sum(0)
            w[0] -= alpha * gw[0]; b[0] -= alpha * e1.sum(0)
        if epoch > 0:
            rates.append(n / (time.perf_counter() - t))
    return float(np.median(rates))


if __name__ == "__main__":
    root = os.path.join(os.path.dirname(__file__), "..", "..", "datasets", "mnist")
    x, y = mnist(root)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "?")
    for name in sys.argv[1:] or ["W1", "W2", "W3"]:
        print(f"numpy {np.__version__} {name} threads={threads}: {run(name, x, y):.0f} examples/s", flush=True)
